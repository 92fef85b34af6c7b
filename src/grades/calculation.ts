import { roundScore } from './numbers.js';
import type { ParseResult } from './symbols.js';

/**
 * Calculated columns. A weighted column (`Assignment 1=30,Test 1=30,Test 2=40`)
 * averages its inputs' percentages by weight; a total column
 * (`Assignment 1, Test 1`) adds its inputs' scores. Inputs are stored by
 * column id, so the calculation follows the columns, not their names.
 */
export type Calculation =
  | { type: 'weighted'; inputs: Array<{ columnId: number; weight: number }> }
  | { type: 'total'; inputs: Array<{ columnId: number }> };

export const WEIGHTED = 'WEIGHTED_COLUMN';
export const TOTAL = 'TOTAL_COLUMN';

const WEIGHT = /^\d+(\.\d+)?$/;

export function parseWeightedMapping(
  text: string,
): ParseResult<Array<{ name: string; weight: number }>> {
  const entries: Array<{ name: string; weight: number }> = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const eq = part.lastIndexOf('=');
    if (eq <= 0) return { ok: false, error: `mapping: "${part}" is not a column=weight pair` };
    const name = part.slice(0, eq).trim();
    const weightText = part.slice(eq + 1).trim();
    if (name === '') return { ok: false, error: `mapping: "${part}" has no column name` };
    if (!WEIGHT.test(weightText) || Number(weightText) <= 0) {
      return {
        ok: false,
        error: `mapping: weight of "${name}" must be a positive number, got "${weightText}"`,
      };
    }
    if (seen.has(name)) return { ok: false, error: `mapping: "${name}" appears more than once` };
    seen.add(name);
    entries.push({ name, weight: Number(weightText) });
  }
  const sum = entries.reduce((acc, e) => acc + e.weight, 0);
  if (Math.abs(sum - 100) > 1e-6) {
    return { ok: false, error: `mapping: weights must total 100, they total ${roundScore(sum)}` };
  }
  return { ok: true, value: entries };
}

export function parseTotalMapping(text: string): ParseResult<string[]> {
  const names: string[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') return { ok: false, error: 'mapping: a column name in the list is empty' };
    if (names.includes(name))
      return { ok: false, error: `mapping: "${name}" appears more than once` };
    names.push(name);
  }
  return { ok: true, value: names };
}

export interface InputGrade {
  score: number | null;
  points: number;
}

/** Weighted: the weighted mean of the graded inputs' fractions, scaled to the column's points. */
export function computeWeighted(
  inputs: Array<{ weight: number; grade: InputGrade | undefined }>,
  points: number,
): number | null {
  let weightSum = 0;
  let acc = 0;
  for (const { weight, grade } of inputs) {
    if (!grade || grade.score === null || !(grade.points > 0)) continue;
    weightSum += weight;
    acc += weight * (grade.score / grade.points);
  }
  if (weightSum === 0) return null;
  return roundScore((acc / weightSum) * points);
}

/** Total: the sum of the graded inputs' scores. */
export function computeTotal(inputs: Array<InputGrade | undefined>): number | null {
  let any = false;
  let sum = 0;
  for (const grade of inputs) {
    if (!grade || grade.score === null) continue;
    any = true;
    sum += grade.score;
  }
  return any ? roundScore(sum) : null;
}

export function inputIds(calc: Calculation | null): number[] {
  return calc ? calc.inputs.map((i) => i.columnId) : [];
}

/** Would making `columnId` depend on `inputs` close a loop through other calculated columns? */
export function createsCycle(
  columnId: number,
  inputs: number[],
  calculations: Map<number, Calculation | null>,
): boolean {
  const stack = [...inputs];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === columnId) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...inputIds(calculations.get(id) ?? null));
  }
  return false;
}

/**
 * The calculated columns that depend, directly or not, on any of `changed`,
 * in an order where every column comes after the columns it reads.
 */
export function dependentsInOrder(
  changed: Iterable<number>,
  calculations: Map<number, Calculation | null>,
): number[] {
  const readers = new Map<number, number[]>();
  for (const [id, calc] of calculations) {
    for (const input of inputIds(calc)) {
      const list = readers.get(input) ?? [];
      list.push(id);
      readers.set(input, list);
    }
  }
  const affected = new Set<number>();
  const stack = [...changed];
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const reader of readers.get(id) ?? []) {
      if (!affected.has(reader)) {
        affected.add(reader);
        stack.push(reader);
      }
    }
  }
  const ordered: number[] = [];
  const placed = new Set<number>();
  const visit = (id: number, path: Set<number>): void => {
    if (placed.has(id) || path.has(id)) return;
    path.add(id);
    for (const input of inputIds(calculations.get(id) ?? null)) {
      if (affected.has(input)) visit(input, path);
    }
    path.delete(id);
    placed.add(id);
    ordered.push(id);
  };
  for (const id of affected) visit(id, new Set());
  return ordered;
}

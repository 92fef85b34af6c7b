import { expect } from 'chai';
import {
  computeTotal,
  computeWeighted,
  createsCycle,
  dependentsInOrder,
  parseTotalMapping,
  parseWeightedMapping,
} from '../../src/grades/calculation.js';
import { interpretValue } from '../../src/grades/grading.js';
import { parseOptionalData } from '../../src/grades/optional-data.js';
import { parseSymbols, symbolFor } from '../../src/grades/symbols.js';

describe('grade schemas (symbols)', () => {
  const letters = (() => {
    const r = parseSymbols('A=90:B=80:C=70:F=0');
    if (!r.ok) throw new Error(r.error);
    return r.value;
  })();

  it('parses symbols with lower bounds and without', () => {
    expect(parseSymbols('P=80:F=0')).to.deep.equal({
      ok: true,
      value: [
        { symbol: 'P', lowerBound: 80 },
        { symbol: 'F', lowerBound: 0 },
      ],
    });
    expect(parseSymbols('Complete:Incomplete')).to.deep.equal({
      ok: true,
      value: [
        { symbol: 'Complete', lowerBound: null },
        { symbol: 'Incomplete', lowerBound: null },
      ],
    });
  });

  it('refuses malformed symbol lists with a reason', () => {
    const bad = (text: string) => {
      const r = parseSymbols(text);
      expect(r.ok, text).to.equal(false);
      return r.ok ? '' : r.error;
    };
    expect(bad('A=90::F=0')).to.match(/entry 2 is empty/);
    expect(bad('=90')).to.match(/has no symbol/);
    expect(bad('A=ninety')).to.match(/lower bound of "A" must be a non-negative number/);
    expect(bad('A=-5')).to.match(/non-negative/);
    expect(bad('A=90:A=80')).to.match(/"A" appears more than once/);
    expect(bad('A=90:B=90')).to.match(/lower bound 90 is used more than once/);
    expect(bad('A=9=0')).to.match(/more than one "="/);
  });

  it('maps a score to the highest bound it reaches, truncating the percentage', () => {
    expect(symbolFor(letters, 90, 100)).to.equal('A');
    expect(symbolFor(letters, 89.99, 100)).to.equal('B');
    expect(symbolFor(letters, 17.9, 20)).to.equal('B'); // 89.5% truncates to 89
    expect(symbolFor(letters, 7, 10)).to.equal('C'); // exactly 70 despite float noise
    expect(symbolFor(letters, 0, 100)).to.equal('F');
    expect(symbolFor(letters, 120, 100)).to.equal('A');
    expect(symbolFor(letters, 50, 0)).to.equal(null);
  });

  it('reads a value as a symbol (case-insensitive) or a number of points', () => {
    const column = { name: 'Essay', symbols: letters };
    expect(interpretValue(column, 50, 'B')).to.deep.equal({ ok: true, score: 40, grade: 'B' });
    expect(interpretValue(column, 50, 'b')).to.deep.equal({ ok: true, score: 40, grade: 'B' });
    expect(interpretValue(column, 50, '46')).to.deep.equal({ ok: true, score: 46, grade: 'A' });
    expect(interpretValue({ name: 'Quiz', symbols: null }, 10, '7.5')).to.deep.equal({
      ok: true,
      score: 7.5,
      grade: '7.5',
    });
    const r = interpretValue({ name: 'Quiz', symbols: null }, 10, 'B');
    expect(r.ok).to.equal(false);
    expect(interpretValue(column, 50, '-3').ok).to.equal(false);
    expect(interpretValue(column, 50, '  ').ok).to.equal(false);
  });
});

describe('optional data', () => {
  it('parses key=value pairs separated by colons', () => {
    expect(parseOptionalData('sisSchemaID=PF:term=2026')).to.deep.equal({
      ok: true,
      value: { sisSchemaID: 'PF', term: '2026' },
    });
    expect(parseOptionalData('')).to.deep.equal({ ok: true, value: null });
    expect(parseOptionalData('empty=')).to.deep.equal({ ok: true, value: { empty: '' } });
  });
  it('refuses pairs without a key or an equals sign', () => {
    expect(parseOptionalData('novalue').ok).to.equal(false);
    expect(parseOptionalData('=x').ok).to.equal(false);
    expect(parseOptionalData('a=1:a=2').ok).to.equal(false);
  });
});

describe('calculated columns', () => {
  it('parses a weighted mapping whose weights total 100', () => {
    expect(parseWeightedMapping('Assignment 1=30,Test 1=30,Test 2=40')).to.deep.equal({
      ok: true,
      value: [
        { name: 'Assignment 1', weight: 30 },
        { name: 'Test 1', weight: 30 },
        { name: 'Test 2', weight: 40 },
      ],
    });
    const off = parseWeightedMapping('A=30,B=30');
    expect(off.ok ? '' : off.error).to.match(/must total 100, they total 60/);
    expect(parseWeightedMapping('A=50,B').ok).to.equal(false);
    expect(parseWeightedMapping('A=0,B=100').ok).to.equal(false);
    expect(parseWeightedMapping('A=50,A=50').ok).to.equal(false);
  });

  it('parses a total mapping as a list of names', () => {
    expect(parseTotalMapping('Assignment 1, Test 1, Final Grade')).to.deep.equal({
      ok: true,
      value: ['Assignment 1', 'Test 1', 'Final Grade'],
    });
    expect(parseTotalMapping('A,,B').ok).to.equal(false);
  });

  it('weights the graded inputs and leaves out the ungraded', () => {
    const w = computeWeighted(
      [
        { weight: 30, grade: { score: 45, points: 50 } },
        { weight: 30, grade: { score: 80, points: 100 } },
        { weight: 40, grade: undefined },
      ],
      100,
    );
    expect(w).to.equal(85);
    expect(computeWeighted([{ weight: 100, grade: undefined }], 100)).to.equal(null);
    expect(computeTotal([{ score: 4, points: 5 }, undefined, { score: 7.5, points: 10 }])).to.equal(
      11.5,
    );
    expect(computeTotal([undefined])).to.equal(null);
  });

  it('orders dependents after their inputs and detects cycles', () => {
    const calcs = new Map([
      [1, null],
      [2, null],
      [
        3,
        {
          type: 'weighted' as const,
          inputs: [
            { columnId: 1, weight: 50 },
            { columnId: 2, weight: 50 },
          ],
        },
      ],
      [4, { type: 'total' as const, inputs: [{ columnId: 3 }, { columnId: 1 }] }],
    ]);
    expect(dependentsInOrder([1], calcs)).to.deep.equal([3, 4]);
    expect(dependentsInOrder([2], calcs)).to.deep.equal([3, 4]);
    expect(dependentsInOrder([4], calcs)).to.deep.equal([]);
    expect(createsCycle(3, [4], calcs)).to.equal(true);
    expect(createsCycle(4, [1, 2], calcs)).to.equal(false);
  });
});

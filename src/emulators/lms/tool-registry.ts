import crypto from 'node:crypto';
import type { ToolInput, ToolRecord } from './types.js';
import { SERVICE_SCOPES } from './vocabulary.js';

export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '';
  } catch {
    return false;
  }
}

export const newDeploymentId = () => crypto.randomUUID();

/** Client ids are opaque random strings, as Moodle issues them. */
const newClientId = () => crypto.randomBytes(12).toString('base64url');

export interface ToolExtras {
  custom?: Record<string, string>;
  messageCustom?: ToolRecord['messageCustom'];
  deepLinkingUrl?: string;
  registration?: Record<string, unknown>;
  placements?: ToolRecord['placements'];
}

/** Registered tools by client id. Every deployment is at the root, so it reaches every context. */
export class ToolRegistry {
  private readonly tools = new Map<string, ToolRecord>();

  register(input: ToolInput, extras: ToolExtras = {}): ToolRecord {
    if (!input.name) throw new Error('A tool needs a name.');
    for (const name of ['loginUrl', 'launchUrl', 'keysetUrl'] as const) {
      if (!isHttpUrl(input[name])) throw new Error(`${name} must be an absolute http(s) URL.`);
    }
    const redirectUris = input.redirectUris ?? [input.launchUrl];
    if (redirectUris.length === 0 || !redirectUris.every(isHttpUrl)) {
      throw new Error('redirectUris must be absolute http(s) URLs.');
    }
    const clientId = input.clientId ?? newClientId();
    if (this.tools.has(clientId)) throw new Error(`Client id "${clientId}" is already registered.`);
    const deploymentIds = input.deploymentIds ?? [newDeploymentId()];
    if (deploymentIds.length === 0 || deploymentIds.some((d) => !d)) {
      throw new Error('deploymentIds must hold at least one non-empty id.');
    }
    const scopes = input.scopes ?? [...SERVICE_SCOPES];
    const unknown = scopes.filter((s) => !SERVICE_SCOPES.includes(s));
    if (unknown.length > 0) throw new Error(`Unknown scopes: ${unknown.join(', ')}.`);
    const tool: ToolRecord = {
      clientId,
      name: input.name,
      loginUrl: input.loginUrl,
      launchUrl: input.launchUrl,
      keysetUrl: input.keysetUrl,
      redirectUris: [...redirectUris],
      deploymentIds: [...deploymentIds],
      scopes: [...new Set(scopes)],
      custom: { ...(extras.custom ?? {}) },
    };
    if (extras.messageCustom) tool.messageCustom = extras.messageCustom;
    if (extras.deepLinkingUrl) tool.deepLinkingUrl = extras.deepLinkingUrl;
    if (extras.registration) tool.registration = extras.registration;
    if (extras.placements) tool.placements = extras.placements.map((p) => ({ ...p }));
    this.tools.set(clientId, tool);
    return tool;
  }

  get(clientId: string): ToolRecord | undefined {
    return this.tools.get(clientId);
  }

  require(clientId: string): ToolRecord {
    const tool = this.tools.get(clientId);
    if (!tool) throw new Error(`Unknown tool client id "${clientId}".`);
    return tool;
  }

  list(): ToolRecord[] {
    return [...this.tools.values()];
  }
}

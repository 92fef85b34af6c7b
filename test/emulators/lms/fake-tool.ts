import crypto, { type KeyObject } from 'node:crypto';
import type http from 'node:http';
import Router from '@koa/router';
import jwt from 'jsonwebtoken';
import Koa from 'koa';
import type { LmsEmulator } from '../../../src/emulators/lms/index.js';
import { closeServer, listen } from '../../../src/emulators/shared/server.js';

interface ToolKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function newKey(): ToolKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: crypto.randomBytes(8).toString('hex'), privateKey, publicKey };
}

export interface RegistrationBehaviour {
  /** Answer the registration page without registering. */
  skip?: boolean;
  /** Changes to the registration request the tool sends. */
  tweak?: (registration: Record<string, unknown>) => void;
}

/**
 * The tool's half, as a test needs it: an RSA key served as a JWKS on
 * loopback, signed client assertions and deep linking responses, and a
 * Dynamic Registration page that registers with the platform.
 */
export class FakeTool {
  jwksRequests = 0;
  registrationResponses: Array<Record<string, unknown>> = [];
  registrationQueries: Array<Record<string, string>> = [];
  registration: RegistrationBehaviour = {};
  private keys: ToolKey[] = [newKey()];

  private constructor(
    readonly url: string,
    private readonly server: http.Server,
  ) {}

  static async start(): Promise<FakeTool> {
    const { server, url } = await listen('127.0.0.1', 0);
    const tool = new FakeTool(url, server);
    server.on('request', tool.app().callback());
    return tool;
  }

  get loginUrl() {
    return `${this.url}/login`;
  }
  get launchUrl() {
    return `${this.url}/launch`;
  }
  get keysetUrl() {
    return `${this.url}/jwks`;
  }
  get registrationUrl() {
    return `${this.url}/register?tenant=acme`;
  }
  get kid() {
    return this.keys[0]!.kid;
  }

  /** Adds a new current key; the old one stays in the keyset unless dropOld. */
  rotateKey(dropOld = false): void {
    this.keys = dropOld ? [newKey()] : [newKey(), ...this.keys];
  }

  register(lms: LmsEmulator, extra: { scopes?: string[]; deploymentIds?: string[] } = {}) {
    return lms.registerTool({
      name: 'Fake tool',
      loginUrl: this.loginUrl,
      launchUrl: this.launchUrl,
      keysetUrl: this.keysetUrl,
      ...extra,
    });
  }

  /** A JWT signed with the current key (or another key under the current kid: `foreignKey`). */
  sign(claims: object, opts: { kid?: string; foreignKey?: boolean; expiresIn?: number } = {}) {
    const key = opts.foreignKey ? newKey().privateKey : this.keys[0]!.privateKey;
    const hasExp = 'exp' in claims;
    return jwt.sign(claims, key, {
      algorithm: 'RS256',
      keyid: opts.kid ?? this.kid,
      ...(hasExp ? {} : { expiresIn: opts.expiresIn ?? 60 }),
    });
  }

  clientAssertion(clientId: string, aud: string, overrides: Record<string, unknown> = {}) {
    return this.sign({ iss: clientId, sub: clientId, aud, jti: crypto.randomUUID(), ...overrides });
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private app(): Koa {
    const app = new Koa();
    const router = new Router();
    router.get('/jwks', (ctx) => {
      this.jwksRequests += 1;
      ctx.body = {
        keys: this.keys.map((k) => ({
          ...k.publicKey.export({ format: 'jwk' }),
          kid: k.kid,
          alg: 'RS256',
          use: 'sig',
        })),
      };
    });
    router.get('/register', async (ctx) => {
      this.registrationQueries.push({ ...(ctx.query as Record<string, string>) });
      if (this.registration.skip) {
        ctx.body = 'Not now.';
        return;
      }
      const configUrl = String(ctx.query.openid_configuration);
      const config = (await (await fetch(configUrl)).json()) as Record<string, string>;
      const registration: Record<string, unknown> = {
        application_type: 'web',
        response_types: ['id_token'],
        grant_types: ['implicit', 'client_credentials'],
        initiate_login_uri: this.loginUrl,
        redirect_uris: [this.launchUrl, `${this.url}/deep-link`],
        client_name: 'Fake tool (dynamic)',
        jwks_uri: this.keysetUrl,
        token_endpoint_auth_method: 'private_key_jwt',
        scope: [
          'https://purl.imsglobal.org/spec/lti-ags/scope/score',
          'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
          'https://example.com/unknown-scope',
        ].join(' '),
        'https://purl.imsglobal.org/spec/lti-tool-configuration': {
          domain: new URL(this.url).host,
          target_link_uri: this.launchUrl,
          custom_parameters: { who: '$User.id' },
          claims: ['iss', 'sub', 'name'],
          messages: [
            { type: 'LtiResourceLinkRequest' },
            {
              type: 'LtiDeepLinkingRequest',
              target_link_uri: `${this.url}/deep-link`,
              custom_parameters: { placement: 'editor' },
            },
          ],
        },
      };
      this.registration.tweak?.(registration);
      const token = ctx.query.registration_token;
      const res = await fetch(config.registration_endpoint!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(typeof token === 'string' ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(registration),
      });
      this.registrationResponses.push({ status: res.status, body: await res.json() });
      ctx.type = 'html';
      ctx.body =
        '<script>(window.opener || window.parent).postMessage({subject:"org.imsglobal.lti.close"}, "*");</script>';
    });
    app.use(router.routes());
    return app;
  }
}

/**
 * Launches without cookies (1EdTech LTI client-side postMessages, platform
 * storage, OIDC login with it). When the LMS's login initiation names a
 * storage frame (`lti_storage_target`), the login page keeps the state and
 * the nonce in the platform's storage; on the launch, when no state cookie
 * came back, a page reads the state back from that storage and posts the
 * launch again with what it read and a one-time confirmation. The state is
 * then trusted as a cookie would make it, and the nonce stays checked
 * against the one issued with the state.
 *
 * When the browser keeps neither (no storage frame, and the cookie blocked),
 * the refusal offers to run the login again in a new window, where the
 * tool's cookie is first-party: the login remembers what restarts it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex.js';
import { identifierProblem } from './claim-text.js';
import { ROUTES } from './engine.js';
import { LaunchError } from './launch-check.js';

/** `_parent`, or the name of a frame of the platform's page (Canvas: `post_message_forwarding`). */
const STORAGE_TARGET = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Why a login's lti_storage_target cannot be used, or null. */
export function storageTargetProblem(value: string): string | null {
  return STORAGE_TARGET.test(value)
    ? null
    : 'lti_storage_target must be _parent or the name of a frame';
}

/** How long the launch page has to ask the platform's storage and post back. */
export const CONFIRM_TTL_MS = 120_000;

/** The longest login_hint or lti_message_hint kept to restart a login (longer: no new-window link). */
const HINT_MAX = 4096;

/** The platform storage keys of a login: each holds the value it is named after. */
export const storageKeys = (state: string, nonce: string) => ({
  state: `state_${state}`,
  nonce: `nonce_${nonce}`,
});

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const ms = (value: unknown) => new Date(value as string).getTime();

/** What a login keeps to be run again in a new window: the LMS's hints, when they are clean text of a sane length. */
export function restartColumns(params: {
  loginHint: string;
  messageHint: string | undefined;
  deploymentId: string | undefined;
}): { login_hint: string | null; message_hint: string | null; deployment_id: string | null } {
  const kept = (value: string | undefined) =>
    value !== undefined && identifierProblem(value, HINT_MAX) === null ? value : null;
  return {
    login_hint: kept(params.loginHint),
    message_hint: kept(params.messageHint),
    deployment_id: params.deploymentId ?? null,
  };
}

/**
 * The login initiation URL that runs a login again, without a storage frame
 * (opened in a new window, the tool's cookie is first-party there); null
 * when the login kept no hints to run it with.
 */
export async function restartUrl(db: Db, state: string | undefined): Promise<string | null> {
  if (!state || identifierProblem(state, 128) !== null) return null;
  const row = await db('lti_logins')
    .where({ state })
    .first('issuer', 'client_id', 'target_link_uri', 'login_hint', 'message_hint', 'deployment_id');
  if (!row?.login_hint) return null;
  const query = new URLSearchParams({
    iss: row.issuer,
    login_hint: row.login_hint,
    target_link_uri: row.target_link_uri,
    client_id: row.client_id,
  });
  if (row.deployment_id) query.set('lti_deployment_id', row.deployment_id);
  if (row.message_hint) query.set('lti_message_hint', row.message_hint);
  return `${ROUTES.login}?${query.toString()}`;
}

/** A login that kept its state in the platform's storage, waiting for the launch page to read it back. */
export interface StorageCheck {
  /** Posted back by the launch page: good once, for CONFIRM_TTL_MS. */
  confirmation: string;
  state: string;
  nonce: string;
  issuer: string;
  clientId: string;
  storageTarget: string;
}

/**
 * For a launch that brought no state cookie: when its login kept the state
 * in the platform's storage and is unused and unexpired, a one-time
 * confirmation for the page that reads the state back (a newer one replaces
 * it). Null otherwise: the launch is then checked, and refused, as usual.
 */
export async function awaitStorageCheck(
  db: Db,
  state: string,
  nowMs: number,
): Promise<StorageCheck | null> {
  if (identifierProblem(state, 128) !== null) return null;
  const login = await db('lti_logins')
    .where({ state })
    .whereNull('used_at')
    .whereNotNull('storage_target')
    .first('nonce', 'issuer', 'client_id', 'storage_target', 'expires_at');
  if (!login || ms(login.expires_at) <= nowMs) return null;
  const confirmation = randomBytes(32).toString('base64url');
  const updated = await db('lti_logins')
    .where({ state })
    .whereNull('used_at')
    .update({
      confirm_hash: sha256(confirmation),
      confirm_expires_at: new Date(
        Math.min(ms(login.expires_at), nowMs + CONFIRM_TTL_MS),
      ).toISOString(),
    });
  if (updated !== 1) return null;
  return {
    confirmation,
    state,
    nonce: login.nonce,
    issuer: login.issuer,
    clientId: login.client_id,
    storageTarget: login.storage_target,
  };
}

/** What the launch page posts back after asking the platform's storage. */
export interface StorageAnswer {
  state: string;
  confirmation: string;
  /** The value the platform's storage holds under the state's key ('' when none). */
  storageState: string | undefined;
  /** Why the page could not ask (no_frame, unsupported, timeout, or the platform's error code). */
  storageError: string | undefined;
}

const STORAGE_ERRORS: Record<string, string> = {
  no_frame:
    "The LMS page has no platform storage frame to confirm this launch with (the page's lti_storage_target frame was not found).",
  unsupported:
    'The LMS does not offer platform storage (lti.put_data and lti.get_data) to confirm this launch with.',
  timeout: "The LMS's platform storage did not answer in time.",
};

/**
 * Checks what the launch page read from the platform's storage: the
 * confirmation must be the login's (it works once, and for CONFIRM_TTL_MS)
 * and the storage must hold the login's state. Returns the login's issuer,
 * which stands for the state cookie; the launch then uses the login up as
 * any launch does. Every refusal uses the login up too.
 */
export async function confirmFromStorage(
  db: Db,
  answer: StorageAnswer,
  nowMs: number,
): Promise<string> {
  const { state } = answer;
  if (identifierProblem(state, 128) !== null)
    throw new LaunchError(401, 'The state was not issued by this tool.');
  const useUp = () =>
    db('lti_logins')
      .where({ state })
      .whereNull('used_at')
      .update({ used_at: new Date(nowMs).toISOString(), confirm_hash: null });
  // The confirmation works once: it is cleared here, whatever follows.
  const claimed = await db('lti_logins')
    .where({ state, confirm_hash: sha256(answer.confirmation) })
    .whereNull('used_at')
    .update({ confirm_hash: null });
  const login = await db('lti_logins')
    .where({ state })
    .first('issuer', 'used_at', 'confirm_expires_at');
  if (claimed !== 1) {
    await useUp();
    if (!login) throw new LaunchError(401, 'The state was not issued by this tool.');
    if (login.used_at) throw new LaunchError(401, 'This login was already used.');
    throw new LaunchError(
      401,
      "The launch's platform storage confirmation is not the one issued for this login.",
    );
  }
  if (ms(login.confirm_expires_at) <= nowMs) {
    await useUp();
    throw new LaunchError(401, 'The launch was not confirmed in time; launch again.', true);
  }
  if (answer.storageState !== state) {
    await useUp();
    const error = answer.storageError;
    const reason =
      error === undefined || error === ''
        ? "The LMS's platform storage does not hold this login's state: the launch did not start in this browser."
        : (STORAGE_ERRORS[error] ??
          `The LMS's platform storage answered with an error (${/^[a-z_]{1,40}$/.test(error) ? error : 'error'}).`);
    throw new LaunchError(401, reason, true);
  }
  return login.issuer;
}

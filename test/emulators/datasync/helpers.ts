import {
  DataSyncEmulator,
  courseQuery,
  type DataSyncEmulatorOptions,
  type ExchangeData,
  type ExchangeInput,
  type ExchangeRecord,
} from '../../../src/emulators/datasync/index.js';

export const CLIENT = { clientId: 'gradebridge', clientSecret: 'top-secret' };

/** An emulator with the CLIENT registered. */
export async function startEmulator(options: DataSyncEmulatorOptions = {}) {
  const ds = await DataSyncEmulator.start(options);
  ds.addClient(CLIENT);
  return ds;
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A token for a client, by HTTP Basic. */
export async function tokenFor(
  ds: DataSyncEmulator,
  client: { clientId: string; clientSecret: string } = CLIENT,
): Promise<string> {
  const res = await fetch(ds.endpoints.token, {
    method: 'POST',
    headers: {
      Authorization: basic(client.clientId, client.clientSecret),
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** Calls the API with a bearer token; `body` is sent as JSON unless it is already a string. */
export class Api {
  constructor(
    readonly ds: DataSyncEmulator,
    readonly token: string | null,
  ) {}

  static async connect(ds: DataSyncEmulator, client = CLIENT): Promise<Api> {
    return new Api(ds, await tokenFor(ds, client));
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> {
    const res = await fetch(`${this.ds.endpoints.api}${path}`, this.init(method, body, headers));
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  /** The raw response, for binary bodies and faults. */
  fetch(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    return fetch(`${this.ds.endpoints.api}${path}`, { ...this.init(method, body, {}), signal });
  }

  get = (path: string) => this.call('GET', path);
  post = (path: string, body?: unknown) => this.call('POST', path, body);

  private init(method: string, body: unknown, headers: Record<string, string>): RequestInit {
    const all: Record<string, string> = { ...headers };
    if (this.token) all.Authorization = `Bearer ${this.token}`;
    if (body !== undefined && !('Content-Type' in all)) all['Content-Type'] = 'application/json';
    return {
      method,
      headers: all,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    };
  }
}

/** An exchange for one course, created as the SIS side would. */
export function createCourseExchange(
  ds: DataSyncEmulator,
  course = 'COURSE-1',
  extra: Partial<ExchangeInput> = {},
): ExchangeRecord {
  return ds.createExchange({ query: courseQuery(course), ...extra });
}

/** An emulator with the CLIENT, an API connection as it, and one course exchange. */
export async function startWithExchange() {
  const ds = await startEmulator();
  const api = await Api.connect(ds);
  return { ds, api, exchange: createCourseExchange(ds) };
}

export const person = (sourceId: string, name = sourceId) => ({
  name,
  $sys: { id: `sys-${sourceId}`, source_id: { sis: sourceId } },
});

/** A data chunk: one assignment with a score for each of `students`. */
export function scoresChunk(
  assignment: string,
  students: Array<[string, number | null]>,
  final = false,
): ExchangeData {
  return {
    assignments: [
      {
        $sys: { id: `sys-${assignment}`, source_id: { lms: assignment } },
        name: `Assignment ${assignment}`,
        points_possible: 100,
        scores: students.map(([student, score]) => ({
          $person: person(student),
          score,
          grade: score === null ? null : String(score),
        })),
      },
    ],
    final,
  };
}

/** Resolves once `check` is true, looking again after each turn of the event loop. */
export async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('until: timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

import { randomBytes } from 'node:crypto';

/**
 * A customer who keeps using the reference shop through its HTTP API while a migration runs: every
 * 50–200 ms (by default) they log in (which sets auth_user.last_login), put a product in the cart
 * (its first variant in release 2.0) and place the order. Maintenance answers (503) are counted and
 * the customer simply tries again; every order the shop accepted (201 with an id) is recorded, so a
 * test can check that each of them is in the database at the end, whichever way the migration went.
 *
 * The shop's endpoints (both releases): POST /api/v1/auth/register/, POST /api/v1/auth/login/,
 * GET /api/v1/products/, GET /api/v1/products/{slug}/, POST /api/v1/cart/, POST /api/v1/orders/.
 */

export interface CustomerOptions {
  /** Default: a new name for each customer (`customer-<random>`). */
  username?: string;
  /** Default: random. */
  password?: string;
  /** Register the account first (201, or 409 when it exists). Default true. */
  register?: boolean;
  /** Pause between two visits, drawn uniformly. Defaults 50 and 200 ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Per request. Default 10 s. */
  requestTimeoutMs?: number;
  /** Added to every request (e.g. a maintenance bypass header, for a customer who must get through). */
  headers?: Record<string, string>;
  /** Quantity of each cart line. Default 1. */
  quantity?: number;
  /** Stop at the first maintenance answer (503), as a customer who gives up: nothing they do lands
   * after the shop closed, so the database at the end can be compared with the recovery point. */
  stopAtMaintenance?: boolean;
}

export interface AcceptedOrder {
  id: number;
  number: string;
  totalAmount: string;
  /** Date.now() when the 201 arrived. */
  acceptedAt: number;
}

export interface CustomerReport {
  /** Ids of the orders the shop accepted (HTTP 201 with an id), in order. */
  acceptedOrderIds: number[];
  /** Successful logins (each one set auth_user.last_login). */
  logins: number;
  /** 503 answers (maintenance mode); the customer tried again after each. */
  maintenanceResponses: number;
  /** Every other failure: unexpected HTTP status or body, e.g. `POST /api/v1/orders/: HTTP 500 …`. */
  errors: string[];
  /** The same orders with their numbers and times. */
  acceptedOrders: AcceptedOrder[];
  /** Requests that got no HTTP answer at all (connection refused or reset, timeout): the server was
   * down, e.g. while a deploy or a rollback restarted it. Kept apart from `errors`. */
  unreachable: number;
  /** The last few of those, for a failure message. */
  unreachableSamples: string[];
  /** Visits started. */
  visits: number;
  username: string;
}

export interface Customer {
  readonly username: string;
  /** What happened so far (a copy). */
  report(): CustomerReport;
  /** Resolves once at least `count` orders were accepted; rejects after `timeoutMs` (default 30 s). */
  waitForOrders(count: number, timeoutMs?: number): Promise<void>;
  /** Stops after the visit in hand (an order in flight is still recorded) and returns the report. */
  stop(): Promise<CustomerReport>;
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
}

/** A visit ends early: the shop is in maintenance, down, or answered something unexpected. */
class VisitEnded extends Error {}

const MAX_ERRORS = 200;
const MAX_SAMPLES = 10;

function record(list: string[], max: number, message: string): void {
  list.push(message);
  if (list.length > max) list.splice(0, list.length - max);
}

/** The message and its cause (fetch's "fetch failed" hides the reason in `cause`); errors from another
 * realm (Node's fetch under jest) are not `instanceof Error`, so their properties are read instead. */
function explain(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown; cause?: { message?: unknown; code?: unknown } };
  if (typeof e?.message !== 'string') return String(error);
  const name = typeof e.name === 'string' ? `${e.name}: ` : '';
  const cause = typeof e.cause?.message === 'string' ? ` (${e.cause.message})` : '';
  return `${name}${e.message}${cause}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function startCustomer(baseUrl: string, options: CustomerOptions = {}): Customer {
  const base = baseUrl.replace(/\/+$/, '');
  const username = options.username ?? `customer-${randomBytes(6).toString('hex')}`;
  const password = options.password ?? randomBytes(12).toString('hex');
  const minDelay = options.minDelayMs ?? 50;
  const maxDelay = Math.max(minDelay, options.maxDelayMs ?? 200);
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const quantity = options.quantity ?? 1;

  const state: CustomerReport = {
    acceptedOrderIds: [],
    logins: 0,
    maintenanceResponses: 0,
    errors: [],
    acceptedOrders: [],
    unreachable: 0,
    unreachableSamples: [],
    visits: 0,
    username,
  };
  let registered = options.register === false;
  /** What goes into the cart: chosen from the catalog, chosen again after maintenance or a 404/400. */
  let choice: { product: string; variant?: number } | null = null;
  let stopping = false;
  let wakeUp: (() => void) | null = null;
  const waiters: { count: number; resolve: () => void }[] = [];

  async function call(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<Answer> {
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Token ${token}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      state.unreachable += 1;
      record(state.unreachableSamples, MAX_SAMPLES, `${method} ${path}: ${explain(error)}`);
      choice = null;
      throw new VisitEnded();
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    if (response.status === 503) {
      state.maintenanceResponses += 1;
      if (options.stopAtMaintenance) stopping = true;
      choice = null; // the release may change while the shop is closed
      throw new VisitEnded();
    }
    return { status: response.status, body: parsed, text };
  }

  function fail(method: string, path: string, answer: Answer): never {
    record(state.errors, MAX_ERRORS, `${method} ${path}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
    throw new VisitEnded();
  }

  async function chooseProduct(): Promise<{ product: string; variant?: number }> {
    const list = await call('GET', '/api/v1/products/');
    const results = isObject(list.body) && Array.isArray(list.body.results) ? list.body.results : [];
    if (list.status !== 200 || results.length === 0) fail('GET', '/api/v1/products/', list);
    const picked: unknown = results[Math.floor(Math.random() * results.length)];
    const slug = isObject(picked) && typeof picked.slug === 'string' ? picked.slug : '';
    const path = `/api/v1/products/${encodeURIComponent(slug)}/`;
    const detail = await call('GET', path);
    if (detail.status !== 200 || !isObject(detail.body)) fail('GET', path, detail);
    const variants = detail.body.variants;
    const first: unknown = Array.isArray(variants) ? variants[0] : undefined;
    if (isObject(first) && typeof first.id === 'number') return { product: slug, variant: first.id };
    return { product: slug };
  }

  async function visit(): Promise<void> {
    state.visits += 1;
    if (!registered) {
      const r = await call('POST', '/api/v1/auth/register/', { username, password });
      if (r.status !== 201 && r.status !== 409) fail('POST', '/api/v1/auth/register/', r);
      registered = true;
    }
    const login = await call('POST', '/api/v1/auth/login/', { username, password });
    const token = isObject(login.body) && typeof login.body.token === 'string' ? login.body.token : '';
    if (login.status !== 200 || !token) fail('POST', '/api/v1/auth/login/', login);
    state.logins += 1;

    for (let attempt = 1; ; attempt += 1) {
      choice ??= await chooseProduct();
      const added = await call('POST', '/api/v1/cart/', { ...choice, quantity }, token);
      if (added.status === 201) break;
      choice = null; // the catalog changed under the customer (a release flushed and re-imported it)
      if (attempt >= 2 || (added.status !== 404 && added.status !== 400))
        fail('POST', '/api/v1/cart/', added);
    }

    const order = await call(
      'POST',
      '/api/v1/orders/',
      { delivery_address: `Москва, ул. Спортивная, д. ${1 + Math.floor(Math.random() * 200)}` },
      token,
    );
    const body = isObject(order.body) ? order.body : {};
    if (order.status !== 201 || typeof body.id !== 'number') fail('POST', '/api/v1/orders/', order);
    state.acceptedOrderIds.push(body.id);
    state.acceptedOrders.push({
      id: body.id,
      number: typeof body.number === 'string' ? body.number : '',
      totalAmount: typeof body.total_amount === 'string' ? body.total_amount : '',
      acceptedAt: Date.now(),
    });
    for (const w of waiters.splice(0)) {
      if (state.acceptedOrderIds.length >= w.count) w.resolve();
      else waiters.push(w);
    }
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        await visit();
      } catch (error) {
        if (!(error instanceof VisitEnded)) {
          record(state.errors, MAX_ERRORS, `customer: ${explain(error)}`);
        }
      }
      if (stopping) break;
      const delay = minDelay + Math.random() * (maxDelay - minDelay);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = null;
    }
  }

  const running = loop();
  const snapshot = (): CustomerReport => ({
    ...state,
    acceptedOrderIds: [...state.acceptedOrderIds],
    errors: [...state.errors],
    acceptedOrders: state.acceptedOrders.map((o) => ({ ...o })),
    unreachableSamples: [...state.unreachableSamples],
  });

  return {
    username,
    report: snapshot,
    waitForOrders(count, waitMs = 30_000) {
      if (state.acceptedOrderIds.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) waiters.splice(i, 1);
          reject(
            new Error(
              `customer ${username}: ${state.acceptedOrderIds.length} of ${count} orders after ${waitMs} ms; ` +
                `errors: ${state.errors.slice(-3).join(' | ') || 'none'}; ` +
                `unreachable: ${state.unreachableSamples.slice(-1).join('') || 'none'}`,
            ),
          );
        }, waitMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ count, resolve: done });
      });
    },
    async stop() {
      stopping = true;
      wakeUp?.();
      await running;
      return snapshot();
    },
  };
}

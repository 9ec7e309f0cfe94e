/** A fetch function as the SDK transports take it. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** What {@link createPerRequestSignalFetch} returns: the fetch, and how many requests are in flight. */
export interface PerRequestSignalFetch {
  fetch: FetchLike;
  /** Requests whose response body has not ended yet (includes open SSE streams). */
  inFlight(): number;
}

/**
 * Works around a listener leak in the SDK's `StreamableHTTPClientTransport` (1.32): it passes ONE
 * long-lived AbortSignal (aborted only on close) to every `fetch`, and undici adds an `abort`
 * listener to it per request that is only removed when the request is garbage-collected — after
 * ~1,500 calls on one client Node warns of a listener leak and the listeners pin memory until a
 * major GC.
 *
 * This wrapper gives each request its own AbortController instead, and registers ONE listener on
 * each distinct caller signal that aborts every request still in flight. A request leaves the
 * in-flight set when its response body ends, errors or is cancelled, so the listener count on the
 * long-lived signal stays at one however many calls go through.
 */
export function createPerRequestSignalFetch(base: FetchLike = fetch): PerRequestSignalFetch {
  const inFlight = new Set<AbortController>();
  const watched = new WeakSet<AbortSignal>();

  const watch = (signal: AbortSignal): void => {
    if (watched.has(signal)) return;
    watched.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        for (const controller of inFlight) controller.abort(signal.reason);
        inFlight.clear();
      },
      { once: true },
    );
  };

  const wrapped: FetchLike = async (url, init) => {
    const outer = init?.signal ?? undefined;
    if (outer?.aborted) return base(url, init);
    const controller = new AbortController();
    if (outer) watch(outer);
    inFlight.add(controller);
    const done = (): void => {
      inFlight.delete(controller);
    };
    let response: Response;
    try {
      response = await base(url, { ...init, signal: controller.signal });
    } catch (error) {
      done();
      throw error;
    }
    if (response.body === null) {
      done();
      return response;
    }
    return new Response(trackEnd(response.body, done), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  return { fetch: wrapped, inFlight: () => inFlight.size };
}

/** Re-streams `body`, calling `onEnd` once when it ends, errors or is cancelled. */
function trackEnd(body: ReadableStream<Uint8Array>, onEnd: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = (): void => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  });
}

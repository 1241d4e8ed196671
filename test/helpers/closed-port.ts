// A loopback port where nothing listens, by construction, for tests of a
// backend (or a JWKS, an issuer) that cannot be reached.
//
// Port 1 (tcpmux) is reserved and below 1024: nothing on a test machine serves
// it, and no test binds it (every server a test starts binds port 0, and the
// kernel never hands out an ephemeral port below 1024), so a connect to it is
// refused (ECONNREFUSED, errno 111) at once, every time.
//
// Not a port that was free a moment ago (bind port 0, read it, close it):
// another test file running in parallel can bind it in between, and the "dead"
// backend answers. Nor a socket that listens and never accepts: the kernel
// completes the handshake for it anyway, so the connect succeeds.
export const CLOSED_PORT = 1;

/** http://127.0.0.1:1, a backend address where every connect is refused. */
export const CLOSED_URL = `http://127.0.0.1:${CLOSED_PORT}`;

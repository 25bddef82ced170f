import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export const TOKEN_HEADER = 'x-emulator-token';

/** Names that can only mean this machine. A page on another name that resolves here is a DNS rebinding attack. */
export function isLoopbackHost(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader);
  const host = (v6 ? v6[1]! : hostHeader.replace(/:\d+$/, '')).toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '::1';
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** 403 unless Host (and Origin, when sent) is a loopback name: the guard against DNS rebinding. */
export function loopbackOnly(req: Request, res: Response, next: NextFunction): void {
  const host = req.headers.host;
  if (!isLoopbackHost(host)) {
    res
      .status(403)
      .type('text/plain')
      .send(
        `Blocked request. This host (${JSON.stringify(host ?? '')}) is not allowed: the emulator's dashboard and admin API answer only to loopback names ` +
          `(localhost, 127.0.0.1, [::1]). Open http://127.0.0.1:<port>/ instead.\n`,
      );
    return;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (!isLoopbackHost(originHost)) {
      res.status(403).type('text/plain').send(`Blocked request from origin ${origin}: only pages served by the emulator may use its admin API.\n`);
      return;
    }
  }
  next();
}

/**
 * State-changing requests must carry the session's token, which only a page served by
 * this dashboard (or a tool that read GET /_emulator/token) has: another local page can
 * send a form, but cannot read the token nor set the header without a CORS preflight we
 * never answer.
 */
export function requireToken(token: string) {
  const expected = Buffer.from(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const given = Buffer.from(String(req.headers[TOKEN_HEADER] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(403).json({
        error: 'token_required',
        message: `${req.method} ${req.path} changes the emulator: send the header X-Emulator-Token with the token from GET /_emulator/token (the dashboard page does this itself).`,
      });
      return;
    }
    next();
  };
}

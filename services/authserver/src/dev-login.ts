import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { escapeHtml, htmlPage } from './html.js';
import { AUTH_ERROR_HEADER } from './auth-error-header.js';
import { INTERACTION_PATH } from './provider-config.js';
import type { AuthServerLogger } from './logger.js';

/** Largest login form body accepted (bytes). */
const MAX_FORM_BYTES = 8 * 1024;

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * The development login and consent (oidc-provider "interactions"), mounted at `/interaction/…`.
 *
 * - Login: a page lists the configured users; choosing one signs in without a password.
 *   Non-interactive path (development only, this server exists for nothing else): when the
 *   authorization request carries `login_hint=<user>` and that user is configured, the login
 *   completes without a page; an unknown `login_hint` gets a 400 error page and no code.
 * - Consent: always granted automatically for exactly the scopes and resources requested; the
 *   client's scope allow-list was already enforced by the authorization endpoint.
 *
 * Returns false when the request is not an interaction route, so the caller can pass it on.
 */
export function createDevLogin(
  provider: Provider,
  users: readonly string[],
  logger: AuthServerLogger | undefined,
): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean> {
  const known = new Set(users);

  async function completeLogin(
    req: IncomingMessage,
    res: ServerResponse,
    interaction: Interaction,
    user: string,
  ) {
    const signedIn = interaction.session;
    if (signedIn !== undefined && signedIn.accountId !== user) {
      // Switching users inside one browser session: oidc-provider would answer with an RP-initiated
      // logout form (a feature this server does not enable); the development login simply forgets
      // the previous session, so the resumed request starts a fresh one for `user`.
      const previous = await provider.Session.findByUid(signedIn.uid);
      await previous?.destroy();
      interaction.session = undefined;
      await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    }
    logger?.info({ user, client: interaction.params.client_id }, 'authserver: development login');
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user } },
      { mergeWithLastSubmission: false },
    );
  }

  async function autoConsent(req: IncomingMessage, res: ServerResponse, interaction: Interaction) {
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params.client_id);
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const existing =
      interaction.grantId === undefined ? undefined : await provider.Grant.find(interaction.grantId);
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function loadInteraction(req: IncomingMessage, res: ServerResponse, uid: string) {
    let interaction: Interaction;
    try {
      interaction = await provider.interactionDetails(req, res);
    } catch {
      sendPage(
        res,
        400,
        'Login expired',
        'This login request expired or its cookie is missing. Start again from the client.',
      );
      return undefined;
    }
    if (interaction.uid !== uid) {
      sendPage(
        res,
        400,
        'Login mismatch',
        'This page does not belong to the login in progress. Start again from the client.',
      );
      return undefined;
    }
    return interaction;
  }

  async function showInteraction(req: IncomingMessage, res: ServerResponse, uid: string) {
    const interaction = await loadInteraction(req, res, uid);
    if (interaction === undefined) return;
    switch (interaction.prompt.name) {
      case 'login': {
        const hint = interaction.params.login_hint;
        if (typeof hint === 'string' && hint !== '') {
          if (known.has(hint)) return completeLogin(req, res, interaction, hint);
          logger?.warn(
            { client: interaction.params.client_id },
            'authserver: login_hint names an unknown user',
          );
          res.setHeader(AUTH_ERROR_HEADER, 'unknown_user');
          return sendPage(
            res,
            400,
            'Unknown user',
            `No configured user is called "${escapeHtml(hint)}". No token was issued.`,
          );
        }
        return sendLoginPage(res, uid, String(interaction.params.client_id), users);
      }
      case 'consent':
        return autoConsent(req, res, interaction);
      default:
        return sendPage(
          res,
          400,
          'Unsupported step',
          `The authorization step "${escapeHtml(interaction.prompt.name)}" is not supported.`,
        );
    }
  }

  async function submitLogin(req: IncomingMessage, res: ServerResponse, uid: string) {
    const form = await readForm(req);
    if (form === undefined) return sendPage(res, 413, 'Form too large', 'The login form body is too large.');
    const interaction = await loadInteraction(req, res, uid);
    if (interaction === undefined) return;
    if (interaction.prompt.name !== 'login')
      return sendPage(res, 400, 'Not a login', 'This step does not expect a login.');
    const user = form.get('user') ?? '';
    if (!known.has(user)) {
      res.setHeader(AUTH_ERROR_HEADER, 'unknown_user');
      return sendPage(
        res,
        400,
        'Unknown user',
        `No configured user is called "${escapeHtml(user)}". No token was issued.`,
      );
    }
    return completeLogin(req, res, interaction, user);
  }

  return async (req, res, pathname) => {
    if (!pathname.startsWith(`${INTERACTION_PATH}/`)) return false;
    const [uid, action, ...rest] = pathname.slice(INTERACTION_PATH.length + 1).split('/');
    if (uid === undefined || uid === '' || rest.length > 0) return false;
    if (action === undefined && req.method === 'GET') {
      await showInteraction(req, res, uid);
      return true;
    }
    if (action === 'login' && req.method === 'POST') {
      await submitLogin(req, res, uid);
      return true;
    }
    sendPage(res, 405, 'Method not allowed', 'Use the login page.');
    return true;
  };
}

function sendLoginPage(res: ServerResponse, uid: string, clientId: string, users: readonly string[]): void {
  const buttons = users
    .map(
      (user) => `<button type="submit" name="user" value="${escapeHtml(user)}">${escapeHtml(user)}</button>`,
    )
    .join('\n');
  const body = `<h1>Gatehouse development login</h1>
<p>Client <strong>${escapeHtml(clientId)}</strong> asks to act for a user. Choose one (no password: development only).</p>
<form method="post" action="${INTERACTION_PATH}/${encodeURIComponent(uid)}/login">
${users.length === 0 ? '<p class="error">No users are configured.</p>' : buttons}
</form>`;
  send(res, 200, htmlPage('Gatehouse login', body));
}

/** `message` must already be HTML-escaped where it embeds input. */
function sendPage(res: ServerResponse, status: number, title: string, message: string): void {
  send(res, status, htmlPage(title, `<h1 class="error">${escapeHtml(title)}</h1><p>${message}</p>`));
}

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(html);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// A real OpenID Connect provider (node-oidc-provider) for dxhub's sign-in tests
// (crates/dxhub/tests/oidc.rs): plain HTTP on 127.0.0.1, one confidential client, and the
// library's development login form, which accepts any login. The login typed becomes the
// subject, with e-mail <login>@example.vn (verified).
//
// Settings, each from argv (--name=value) or the environment:
//   --port / OIDC_PORT                        port on 127.0.0.1 (0: any free port)
//   --client-id / OIDC_CLIENT_ID              client id
//   --client-secret / OIDC_CLIENT_SECRET      client secret
//   --redirect-uri / OIDC_REDIRECT_URIS       allowed redirect URIs (comma-separated)
//   --claims-in / OIDC_CLAIMS_IN              where the e-mail claims go: id_token (default)
//                                             or userinfo (only there, as the core
//                                             specification has it for the code flow)
//
// Prints `ready <issuer URL>` on standard output once it accepts connections.

import Provider from 'oidc-provider';

function setting(flag, env, fallback) {
  const prefix = `--${flag}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  const value = arg !== undefined ? arg.slice(prefix.length) : process.env[env];
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    console.error(`server.mjs: --${flag}=… or ${env} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number(setting('port', 'OIDC_PORT', '0'));
const clientId = setting('client-id', 'OIDC_CLIENT_ID');
const clientSecret = setting('client-secret', 'OIDC_CLIENT_SECRET');
const redirectUris = setting('redirect-uri', 'OIDC_REDIRECT_URIS').split(',').map((u) => u.trim());
const claimsIn = setting('claims-in', 'OIDC_CLAIMS_IN', 'id_token');
if (!['id_token', 'userinfo'].includes(claimsIn)) {
  console.error(`server.mjs: --claims-in must be id_token or userinfo, not ${claimsIn}`);
  process.exit(2);
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  // With id_token, the scope's claims are in the ID token too; by default (userinfo) they
  // are only at the userinfo endpoint when an access token is issued.
  conformIdTokenClaims: claimsIn === 'userinfo',
  features: {
    devInteractions: { enabled: true },
  },
  pkce: { required: () => true },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.vn`, email_verified: true };
      },
    };
  },
  // Throwaway keys for signing this provider's cookies (a new process, new keys).
  cookies: { keys: [crypto.randomUUID()] },
};

// The issuer must name the port, so find a free one first when asked for any.
async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}

const chosen = port === 0 ? await freePort() : port;
const issuer = `http://127.0.0.1:${chosen}`;
const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(chosen, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
server.on('error', (err) => {
  console.error(`server.mjs: cannot listen on ${issuer}: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

/**
 * `sessions list|revoke`: browser sign-in sessions in a session store
 * (`serve --session-store`), for an on-call engineer cutting off a lost
 * laptop or a departing person. A revoked session's next request is sent to
 * sign in (browser) or gets 401 (program), on every instance sharing the store.
 */
import { Command, Option } from 'commander';
import type { SessionStore, StoredSessionInfo } from '../signin/session-store.ts';

const storeOption = () =>
  new Option('--store <url>', 'the session store the gateways use (their --session-store: redis://HOST:PORT, rediss://…, unix socket path)').env('ENDPOINTS_SESSION_STORE').makeOptionMandatory();

async function withStore<T>(url: string, work: (store: SessionStore) => Promise<T>): Promise<T> {
  const { openSessionStore } = await import('../signin/session-store.ts');
  let failure: Error | undefined;
  const store = openSessionStore(url, (err) => (failure ??= err), '--store');
  try {
    return await work(store);
  } catch (err) {
    throw new Error(`session store ${store.display}: ${(failure ?? (err as Error)).message}`);
  } finally {
    await store.close();
  }
}

const iso = (s: number) => (s > 0 ? new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

function line(i: StoredSessionInfo): string {
  return [i.id, i.sub, i.email ?? '-', `signed-in=${iso(i.signedInAt)}`, `expires=${iso(i.expiresAt)}`, `last-seen=${iso(i.lastSeenAt)}`, i.origin].join('\t');
}

interface Who {
  subject?: string;
  email?: string;
}

function whoFilter(o: Who): { sub?: string; email?: string } {
  if (o.subject !== undefined && o.email !== undefined) throw new Error('give --subject or --email, not both');
  return { ...(o.subject !== undefined ? { sub: o.subject } : {}), ...(o.email !== undefined ? { email: o.email } : {}) };
}

export function registerSessionsCommands(program: Command): void {
  const sessions = program.command('sessions').description('List and end browser sign-in sessions kept in a session store (serve --session-store).');

  sessions
    .command('list')
    .description('List live sessions: id, subject, email, sign-in, expiry, last use, origin (tab-separated; --json for JSON).')
    .addOption(storeOption())
    .option('--subject <sub>', "only this person's sessions (the provider's subject)")
    .option('--email <email>', "only this person's sessions (by email, any case)")
    .option('--json', 'one JSON array')
    .action(async (o: Who & { store: string; json?: boolean }) => {
      const filter = whoFilter(o);
      const found = await withStore(o.store, (s) => s.list(filter));
      if (o.json) process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      else for (const i of found) process.stdout.write(`${line(i)}\n`);
      process.stderr.write(`${found.length} session(s)\n`);
    });

  sessions
    .command('revoke')
    .description('End sessions at once on every gateway sharing the store: the ids given (from `sessions list`), or every session of --subject or --email.')
    .argument('[id...]', 'session ids as `sessions list` shows them')
    .addOption(storeOption())
    .option('--subject <sub>', "every session of this person (the provider's subject)")
    .option('--email <email>', 'every session of this person (by email)')
    // An id is base64url and may begin with "-" (1 in 64): without these, such an id pasted from
    // `sessions list` was refused as an unknown option, or a "-h…" one showed the help. Revoke has no
    // short option, so every "-…" word that is no option of its own is an operand, checked below.
    .allowUnknownOption()
    .helpOption('--help')
    .action(async (ids: string[], o: Who & { store: string }) => {
      const { isStoreId } = await import('../signin/session-store.ts');
      const notIds = ids.filter((id) => !isStoreId(id));
      if (notIds.length > 0) throw new Error(`not a session id: ${notIds.map((id) => JSON.stringify(id)).join(', ')} (an unknown option, or not one of the 32-character ids \`sessions list\` shows)`);
      const filter = whoFilter(o);
      const byPerson = filter.sub !== undefined || filter.email !== undefined;
      if (ids.length > 0 && byPerson) throw new Error('give session ids or --subject/--email, not both');
      if (ids.length === 0 && !byPerson) throw new Error('name what to revoke: session ids, --subject SUB or --email EMAIL');
      const { revoked, missing } = await withStore(o.store, async (s) => {
        const targets = byPerson ? (await s.list(filter)).map((i) => i.id) : ids;
        const done: string[] = [];
        const gone: string[] = [];
        for (const id of targets) ((await s.revoke(id)) ? done : gone).push(id);
        return { revoked: done, missing: gone };
      });
      for (const id of revoked) process.stdout.write(`revoked ${id}\n`);
      process.stderr.write(`${revoked.length} session(s) revoked\n`);
      if (!byPerson && missing.length > 0) {
        process.stderr.write(`no such session (expired, signed out or already revoked): ${missing.join(', ')}\n`);
        process.exitCode = 1;
      }
    });
}

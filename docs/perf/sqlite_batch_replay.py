#!/usr/bin/env python3
"""Replays the SQL of one ingest batch of new chats (the bench's menu profile) against a copy
of a fresh Switchboard SQLite database, and prints what each statement and the commit cost
per event and how many WAL frames (pages) a commit writes, and of which b-trees.

It mirrors the statements of `Store::commit_batch` on SQLite (see the server's log with
`SWITCHBOARD_BENCH_SERVER_LOG=sqlx::query=debug`); keep it in step when they change.

    switchboard serve --listen 127.0.0.1:0 --data-dir /tmp/sb   # stop it once it has started
    python3 docs/perf/sqlite_batch_replay.py /tmp/sb/switchboard.db

Environment: N events per batch (16), B batches (300), SYNC=FULL|NORMAL, PAGE=bytes (a
page size for the copy), NOROWID=table,... (rebuild those tables WITHOUT ROWID), FK=0.
"""
import collections, json, os, shutil, sqlite3, struct, sys, tempfile, time, uuid

N = int(os.environ.get("N", "16"))
B = int(os.environ.get("B", "300"))
work = tempfile.mkdtemp(prefix="sb-replay-")
path = os.path.join(work, "db.sqlite")
shutil.copy(sys.argv[1], path)
page = int(os.environ.get("PAGE", "0"))
if page:
    d = sqlite3.connect(path, isolation_level=None)
    d.execute("PRAGMA journal_mode=DELETE")
    d.execute(f"PRAGMA page_size={page}")
    d.execute("VACUUM")
    d.close()
db = sqlite3.connect(path, isolation_level=None)
if os.environ.get("NOROWID"):
    db.execute("PRAGMA foreign_keys=OFF")
    for t in os.environ["NOROWID"].split(","):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (t,)).fetchone()[0]
        idx = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL", (t,))]
        db.execute("DROP TABLE " + t)
        db.execute(sql + " WITHOUT ROWID")
        for i in idx:
            db.execute(i)
db.execute("PRAGMA journal_mode=WAL")
db.execute(f"PRAGMA synchronous={os.environ.get('SYNC', 'FULL')}")
db.execute(f"PRAGMA foreign_keys={'OFF' if os.environ.get('FK') == '0' else 'ON'}")
db.execute("PRAGMA wal_autocheckpoint=1000000")  # the server checkpoints in the background

now = int(time.time() * 1000)
acc, con, scn = (str(uuid.uuid4()) for _ in range(3))
db.execute("INSERT INTO accounts VALUES (?, ?, ?)", (acc, "a", now))
db.execute("INSERT INTO channel_connections (id, account_id, kind, name, account_name, external_account_id, credentials, routing, auto_close_after_secs, enabled, created_at, updated_at) VALUES (?, ?, 'telegram', 't', 't', 'x', x'', '{}', 3600, 1, ?, ?)", (con, acc, now, now))
db.execute("INSERT INTO scenarios (id, account_id, name, source, created_at, updated_at) VALUES (?, ?, 's', 'x', ?, ?)", (scn, acc, now, now))


def v7():
    """A time-ordered id like the server's (UUID v7)."""
    return str(uuid.UUID(int=(int(time.time() * 1000) << 80) | (0x7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1))))


cost = collections.Counter()


def run(name, sql, rows=None, args=()):
    if rows is not None:
        width = len(rows[0])
        sql = sql.replace("{V}", ", ".join(["(" + ", ".join("?" * width) + ")"] * len(rows)))
        args = [a for r in rows for a in r]
    t = time.perf_counter()
    out = db.execute(sql, args).fetchall()
    cost[name] += time.perf_counter() - t
    return out


content = json.dumps({"text": "Hello, what does delivery cost?"})
answer = json.dumps({"text": "Choose one", "choices": [{"id": c, "label": c} for c in "abc"]})
state = json.dumps({"step": "menu", "vars": {}})
chat, update, sending = 1_000_000, 1, []
started = time.perf_counter()
for _ in range(B):
    run("begin", "BEGIN")
    run("inbound_events", "INSERT INTO inbound_events (connection_id, external_event_id, received_at, message_id) VALUES {V} ON CONFLICT DO NOTHING RETURNING connection_id, external_event_id", [(con, str(update + i), now, None) for i in range(N)])
    chats = [str(chat + i) for i in range(N)]
    run("lookup", "SELECT i.connection_id, i.external_id, i.contact_id FROM (VALUES {V}) AS v JOIN contact_identities i ON i.connection_id = v.column1 AND i.external_id = v.column2", [(con, c) for c in chats])
    contacts, convs = [v7() for _ in chats], [v7() for _ in chats]
    run("contacts", "INSERT INTO contacts (id, account_id, name, created_at) VALUES {V}", [(c, acc, "Ivan", now) for c in contacts])
    run("identities", "INSERT INTO contact_identities (connection_id, external_id, contact_id) VALUES {V}", [(con, chats[i], contacts[i]) for i in range(N)])
    run("conversations", "INSERT INTO conversations (id, account_id, connection_id, contact_id, status, group_id, wanted_operator_id, previous_id, opened_at, last_message_at, last_inbound_at, queued_at, held_until) VALUES {V}", [(convs[i], acc, con, contacts[i], "bot", None, None, None, now, now, now, None, None) for i in range(N)])
    run("bot_states", "INSERT INTO bot_states (conversation_id, account_id, scenario_id, state, version, read_at, read_id, pending, wake_at, updated_at) VALUES {V}", [(c, acc, scn, state, 1, now, "", None, None, now) for c in convs])
    run("timers", "INSERT INTO timers (kind, conversation_id, due_at) SELECT 'auto_close', v.column1, v.column2 + c.auto_close_after_secs * 1000 FROM (VALUES {V}) AS v JOIN channel_connections c ON c.id = v.column3 WHERE true ON CONFLICT DO NOTHING", [(c, now, con) for c in convs])
    run("audit_log", "INSERT INTO audit_log (account_id, action, object_type, object_id, details, at) VALUES {V}", [(acc, "conversation.opened", "conversation", c, "{}", now) for c in convs])
    inbound, outbound = [v7() for _ in convs], [v7() for _ in convs]
    rows = []
    for i in range(N):
        rows.append((inbound[i], acc, convs[i], "inbound", "contact", content, str(update + i), "received", now))
        rows.append((outbound[i], acc, convs[i], "outbound", "bot", answer, None, "pending", now))
    run("messages", "INSERT INTO messages (id, account_id, conversation_id, direction, author_kind, content, external_id, delivery_status, created_at) VALUES {V}", rows)
    run("outbox", "INSERT INTO outbox (account_id, connection_id, conversation_id, message_id, action, chat_id, status, next_attempt_at, created_at, updated_at) SELECT column1, column2, column3, column4, column5, column6, 'pending', column7, column7, column7 FROM (VALUES {V}) AS v", [(acc, con, convs[i], outbound[i], answer, chats[i], now) for i in range(N)])
    if sending:
        run("settle: messages", "UPDATE messages SET delivery_status = v.column2, external_id = COALESCE(v.column3, messages.external_id), failure_reason = v.column4 FROM (VALUES {V}) AS v JOIN outbox o ON o.id = v.column1 WHERE messages.id = o.message_id AND o.status = 'sending' AND messages.direction = 'outbound'", [(o, "sent", str(o * 7), None) for o in sending])
        run("settle: outbox", "UPDATE outbox SET status = v.column2, next_attempt_at = v.column3, lease_until = NULL, last_error = v.column4, updated_at = v.column5 FROM (VALUES {V}) AS v WHERE outbox.id = v.column1 AND outbox.status = 'sending'", [(o, "sent", now, None, now) for o in sending])
    sending = [r[0] for r in run("claim", """UPDATE outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1, updated_at = ?
        WHERE id IN (SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?
            AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id AND p.id < o.id AND p.status IN ('pending', 'sending'))
            ORDER BY o.next_attempt_at, o.id LIMIT ?)
        RETURNING id""", args=(now + 30000, now, now + 1, 256))]
    run("commit", "COMMIT")
    chat += N
    update += N
elapsed = time.perf_counter() - started
total = sum(cost.values())
print(f"{N * B} events in batches of {N}: {N * B / elapsed:.0f}/s, {elapsed / (N * B) * 1e6:.0f} us per event")
for name, seconds in cost.most_common():
    print(f"  {name:18} {seconds / (N * B) * 1e6:7.1f} us per event  {100 * seconds / total:5.1f}%")

# The WAL holds every commit since the start (no checkpoint): count the frames per commit
# and, for the last commits, the b-trees their pages belong to.
wal = open(path + "-wal", "rb").read()
size = struct.unpack(">I", wal[8:12])[0]
commits, current, offset = [], [], 32
while offset + 24 + size <= len(wal):
    number, committed = struct.unpack(">II", wal[offset:offset + 8])
    current.append(number)
    if committed:
        commits.append(current)
        current = []
    offset += 24 + size
last = commits[-20:]
print(f"page size {size}: {sum(map(len, last)) / len(last):.0f} WAL frames per commit (last 20), "
      f"{sum(map(len, last)) / len(last) * (size + 24) / N / 1024:.1f} KiB per event")
owner = dict((p, n) for n, p in db.execute("SELECT name, pageno FROM dbstat"))
pages = collections.Counter(owner.get(p, "?") for c in last for p in c)
print("  pages per commit by b-tree:", ", ".join(f"{n} {c / len(last):.1f}" for n, c in pages.most_common()))
db.close()
shutil.rmtree(work)

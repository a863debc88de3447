// PGlite (PostgreSQL 17 + pgvector) over the Postgres wire protocol for the tests, as pglite-socket's own
// server.js, with one fix: pglite-socket 0.0.22 queues protocol messages one by one and keeps the backend for one
// connection only while a transaction is open, so two connections that send Parse/Bind/Execute/Sync at the same
// moment get their messages interleaved on PGlite's single backend (Npgsql: "BindComplete while expecting
// ParseComplete"). Here a connection keeps the backend from its first message until PGlite answers
// ReadyForQuery with status idle, i.e. until its statement (or transaction) is over.
//
// usage: node server.mjs -p PORT [-h 127.0.0.1] [-m 24]
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', short: 'p', default: '5432' },
    host: { type: 'string', short: 'h', default: '127.0.0.1' },
    'max-connections': { type: 'string', short: 'm', default: '24' },
  },
});

const db = new PGlite('memory://', { extensions: { vector } });
await db.waitReady;
const server = new PGLiteSocketServer({
  db,
  port: parseInt(values.port, 10),
  host: values.host,
  maxConnections: parseInt(values['max-connections'], 10),
});

const queue = server.queryQueue;
if (!queue || typeof queue.processQueue !== 'function') {
  throw new Error('pglite-socket changed: no queryQueue.processQueue to patch');
}

// ReadyForQuery ('Z', length 5, status 'I') at the end of a response: the connection is between statements.
const endsIdle = (bytes) => bytes.length >= 6 && bytes[bytes.length - 6] === 0x5a && bytes[bytes.length - 1] === 0x49;
let owner = null;

queue.processQueue = async function processQueue() {
  if (this.processing || this.queue.length === 0) return;
  this.processing = true;
  try {
    while (this.queue.length > 0) {
      const index = owner === null ? 0 : this.queue.findIndex((q) => q.handlerId === owner);
      if (index === -1) break; // the owner's next message has not arrived yet; others wait
      const [item] = this.queue.splice(index, 1);
      try {
        const result = await this.db.runExclusive(() => this.db.execProtocolRaw(item.message));
        owner = endsIdle(result) ? null : item.handlerId;
        this.lastHandlerId = item.handlerId;
        item.resolve(result);
      } catch (error) {
        owner = null;
        item.reject(error);
      }
    }
  } finally {
    this.processing = false;
  }
};

const clear = queue.clearTransactionIfNeeded.bind(queue);
queue.clearTransactionIfNeeded = async function clearTransactionIfNeeded(handlerId) {
  if (owner === handlerId) {
    owner = null;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    await this.processQueue();
    return;
  }
  await clear(handlerId);
};

server.addEventListener('listening', (e) => console.log(`PGLiteSocketServer listening on ${JSON.stringify(e.detail)}`));
const shutdown = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
await server.start();

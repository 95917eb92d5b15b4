/**
 * Raw access to a token database from tests, for looking behind the store's back.
 *
 * Every better-sqlite3 object made here stays reachable until the process exits: on Node 24 one
 * that the garbage collector destroys can abort the process (see `retired` in
 * src/stores/sqlite.ts), which would kill the test worker.
 */
import Database from 'better-sqlite3';

const kept: unknown[] = [];

export interface RawDatabase {
  prepare(sql: string): Database.Statement;
  close(): void;
}

export function openDatabase(path: string, options?: Database.Options): RawDatabase {
  const db = new Database(path, options);
  kept.push(db);
  return {
    prepare(sql) {
      const statement = db.prepare(sql);
      kept.push(statement);
      return statement;
    },
    close() {
      db.close();
    },
  };
}

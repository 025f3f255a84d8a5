// A TableWriter whose real writer (and the module behind it) is created on a later tick, so that
// openTableWriter() can stay synchronous while apache-arrow and hyparquet load on first use.
import type { ExtraColumns, TableWriter } from './writer.js';
import type { Table } from './table.js';

export class LazyTableWriter implements TableWriter {
  /** The real writer, or null when abort() came first (then no file is ever created). */
  readonly #real: Promise<TableWriter | null>;
  #aborted = false;
  #created: TableWriter | null = null;

  /**
   * @param load imports the format's module and returns the function that opens the file; the file
   *   is opened only if abort() has not come meanwhile, so an aborted writer never creates it.
   */
  constructor(load: () => Promise<() => TableWriter>) {
    this.#real = load().then((open) => {
      if (this.#aborted) return null;
      this.#created = open();
      return this.#created;
    });
    // A failed import surfaces on the next write()/close(); never as an unhandled rejection.
    this.#real.catch(() => {});
  }

  async #writer(): Promise<TableWriter> {
    const w = await this.#real;
    if (w === null || this.#aborted) throw new Error('The table writer was aborted');
    return w;
  }

  async write(table: Table, extra?: ExtraColumns): Promise<void> {
    await (await this.#writer()).write(table, extra);
  }

  async close(): Promise<void> {
    await (await this.#writer()).close();
  }

  abort(): void {
    this.#aborted = true;
    this.#created?.abort();
  }
}

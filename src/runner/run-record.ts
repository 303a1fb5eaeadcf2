// The audit trail: every event of a phase run, one JSON object a line, in
// `.hive/<stage>/runs/<YYYYmmddTHHMMSSZ>-<phase>.ndjson` (`.2`, `.3`, ... when a second run of the
// same phase starts within the same second).
import { closeSync, openSync, writeSync } from 'node:fs';
import { ensureStateDir } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';
import { join } from 'node:path';
import type { EventSink, HiveEvent } from '../lib/events.js';

/** 2025-11-25T09:30:00.123Z → 20251125T093000Z */
export const runStamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export class RunRecord implements EventSink {
  readonly path: string;
  private fd: number | undefined;

  constructor(stageDir: string, phase: string, started: Date) {
    const dir = new StageDir(stageDir).runs;
    ensureStateDir(dir);
    const base = `${runStamp(started)}-${phase}`;
    let n = 1;
    for (;;) {
      const path = join(dir, n === 1 ? `${base}.ndjson` : `${base}.${n}.ndjson`);
      try {
        this.fd = openSync(path, 'wx', 0o600);
        this.path = path;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        n++;
      }
    }
  }

  emit(e: HiveEvent): void {
    // synchronous: the record is complete up to the last event even if hive is killed
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify(e) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

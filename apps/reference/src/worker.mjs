// The tinypool worker: runs one RunJob per task with jobs.ts's runJob.
//
// Plain JavaScript on purpose. The pool starts workers with
// execArgv ['--conditions=source', '--import', 'tsx'], but on Node 20 tsx installs its
// module hooks only on the main thread, so a worker cannot import TypeScript by itself.
// When that is the case, this file registers tsx's hooks for its own thread and retries.
import { register } from 'tsx/esm/api';

let runJob;

async function load() {
  try {
    return (await import('./jobs.ts')).runJob;
  } catch (error) {
    if (error?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    register();
    // A new URL: the failed load of './jobs.ts' stays cached in this thread's module map.
    return (await import('./jobs.ts?tsx')).runJob;
  }
}

export default async function run(job) {
  runJob ??= await load();
  return runJob(job);
}

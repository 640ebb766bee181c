// CommonJS, so that src/main.cts can use it before any ES module loads (see there).
import os = require('node:os')

/**
 * Hashes at once unless HASH_CONCURRENCY says: the cores this process may run on (its
 * CPU affinity) less one for the event loop, at least one, at most 4.
 */
const defaultHashConcurrency = () => Math.min(4, Math.max(1, os.availableParallelism() - 1))

/**
 * libuv's thread pool: exactly the hashes allowed at once. argon2 allocates its 19 MiB
 * per hash on whichever pool thread runs it, and glibc keeps each thread's freed memory
 * in that thread's own arena, so every pool thread that ever hashed holds 19 MiB: one
 * spare thread took peak RSS from 143 to 160 MB over the benchmark's scenarios. The pool's other work is rare
 * here (the docs page's files, DNS for SMTP; SQLite, logging and tokens are synchronous)
 * and waits behind at most one hash, about 22 ms. undefined when the operator set
 * UV_THREADPOOL_SIZE: theirs wins.
 */
function threadPoolSize (env: NodeJS.ProcessEnv): number | undefined {
  if (env.UV_THREADPOOL_SIZE) return undefined
  const configured = Number(env.HASH_CONCURRENCY)
  // An invalid HASH_CONCURRENCY is loadConfig's to report; the pool need not guess at it.
  return Number.isInteger(configured) && configured >= 1 && configured <= 64 ? configured : defaultHashConcurrency()
}

export = { defaultHashConcurrency, threadPoolSize }

// The service's entry point (npm start). It sizes libuv's thread pool, which libuv
// reads from UV_THREADPOOL_SIZE once, when the pool starts, and then loads the service.
// It is CommonJS because Node reads ES modules' files through that pool: by the time
// the first line of an ES module runs, the pool already has its default size.
import threadPool = require('./thread-pool.cjs')

const size = threadPool.threadPoolSize(process.env)
if (size !== undefined) process.env.UV_THREADPOOL_SIZE = String(size)
void import('./server.js')

import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { errors } from '../src/errors.js'

export type ShutdownPhase = 'serving' | 'draining' | 'closing'

declare module 'fastify' {
  interface FastifyInstance {
    shutdown: {
      /** 'draining' once drain() began; 'closing' once it ended and app.close() may follow. */
      readonly phase: ShutdownPhase
      /**
       * The first step of a graceful stop. Behind a load balancer, or in Kubernetes, traffic
       * keeps arriving for a moment after SIGTERM: for up to `ms` the service still listens
       * and answers, every answer says `Connection: close` (so kept-alive connections end
       * after their current request instead of being reset by the close), and
       * /health/ready says 503 so the balancer takes this instance out. It ends early once
       * no connection has been open for QUIET_MS: the traffic has stopped, rather than
       * paused between two connections.
       */
      drain: (ms: number) => Promise<void>
    }
  }
}

// Long enough to tell "traffic stopped" from the gap between one connection closing and
// the next opening under load; short enough that an idle instance stops at once.
const QUIET_MS = 250

export default fp(async function shutdown (fastify) {
  let phase: ShutdownPhase = 'serving'
  const open = new Set<Socket>()
  fastify.server.on('connection', (socket: Socket) => {
    open.add(socket)
    socket.once('close', () => open.delete(socket))
  })

  // Runs on every request: a callback hook, so the usual case costs one comparison and no promise.
  fastify.addHook('onRequest', (_request, reply, done) => {
    if (phase === 'serving') return done()
    reply.header('connection', 'close')
    // Past the drain, app.close() is taking the database away: a request that still
    // arrives (on a connection that sent nothing during the drain) is refused in the API's
    // error shape, to be retried on another instance, rather than half served.
    done(phase === 'closing' ? new errors.SERVICE_UNAVAILABLE('The service is shutting down; retry shortly') : undefined)
  })

  fastify.decorate('shutdown', {
    get phase () { return phase },
    async drain (ms: number) {
      if (phase !== 'serving') return
      phase = 'draining'
      const until = Date.now() + ms
      let quietSince = Date.now()
      while (Date.now() < until) {
        if (open.size > 0) quietSince = Date.now()
        else if (Date.now() - quietSince >= Math.min(QUIET_MS, ms)) break
        await sleep(Math.min(10, until - Date.now()))
      }
      phase = 'closing'
    }
  })
}, { name: 'shutdown', dependencies: ['error-handler'] })

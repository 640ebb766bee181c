import fp from 'fastify-plugin'

// Prometheus metrics at /metrics when METRICS_ENABLED=true. Each app has its own
// registry, so several apps in one process (tests) never share counters.
export default fp(async function metrics (fastify) {
  if (!fastify.config.metricsEnabled) return
  // prom-client loads only when metrics are on.
  const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = await import('prom-client')
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const labelNames = ['method', 'route', 'status_code'] as const
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer, by route pattern',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })
  const logins = new Counter({ name: 'auth_logins_total', help: 'Password logins by outcome', labelNames: ['outcome'] as const, registers: [registry] })
  // Read at scrape time, so it is never stale.
  const backlog = new Gauge({
    name: 'mail_outbox_backlog',
    help: 'E-mails waiting to be sent',
    // Not the global registry: each app has its own.
    registers: [],
    async collect () {
      this.set(await fastify.repos.outbox.backlog())
    }
  })
  registry.registerMetric(backlog)

  fastify.addHook('onResponse', async (request, reply) => {
    // The pattern (/users/:id), never the raw URL: label sets stay bounded.
    const route = request.routeOptions.url ?? 'unmatched'
    const labels = { method: request.method, route, status_code: String(reply.statusCode) }
    requests.inc(labels)
    duration.observe(labels, reply.elapsedTime / 1000)
    if (route === '/auth/token' && request.method === 'POST') {
      const grant = (request.body as { grant_type?: string } | undefined)?.grant_type ?? 'password'
      if (grant === 'password' && (reply.statusCode === 200 || reply.statusCode === 400 || reply.statusCode === 429)) {
        logins.inc({ outcome: reply.statusCode === 200 ? 'success' : reply.statusCode === 429 ? 'throttled' : 'failure' })
      }
    }
  })

  fastify.get('/metrics', { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}, { name: 'metrics' })

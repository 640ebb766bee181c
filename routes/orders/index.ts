import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// Routes of API.md's orders section.
const ordersRoutes: FastifyPluginAsyncTypebox = async () => {}

export default ordersRoutes

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// Routes of API.md's cart section.
const cartRoutes: FastifyPluginAsyncTypebox = async () => {}

export default cartRoutes

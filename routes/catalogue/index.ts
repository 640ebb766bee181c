import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// Routes of API.md's catalogue section.
const catalogueRoutes: FastifyPluginAsyncTypebox = async () => {}

export default catalogueRoutes

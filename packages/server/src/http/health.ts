import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unavailable } from '../gateway/unavailable.js';

const Status = Type.Object({ status: Type.String() });

export const healthRoutes: FastifyPluginAsyncTypebox<{ ping: () => Promise<void> }> = async (app, { ping }) => {
  app.get(
    '/healthz',
    { schema: { tags: ['Operations'], summary: 'Liveness: the process is up', response: { 200: Status } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    { schema: { tags: ['Operations'], summary: 'Readiness: the database answers', response: { 200: Status } } },
    async () => {
      await ping().catch(unavailable);
      return { status: 'ready' };
    },
  );
};

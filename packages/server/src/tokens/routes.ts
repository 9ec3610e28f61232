import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { expectType } from '../http/documents.js';
import { errorResponses, pageEnvelope, readPage } from '../http/jsonapi.js';
import { principalOf } from '../http/principal.js';
import {
  CreateTokenBody,
  IssuedTokenDocument,
  TOKEN_TYPE,
  TokenCollection,
  TokenCollectionParams,
  TokenListQuery,
  TokenParams,
  tokenResource,
} from './schemas.js';
import type { TokenService } from './service.js';

const tags = ['User app tokens'];
const security = [{ bearer: [] }];

export const tokenRoutes: FastifyPluginAsyncTypebox<{ tokens: TokenService }> = async (app, { tokens }) => {
  app.get(
    '/users/:user_id/user_app_tokens',
    {
      schema: {
        tags,
        security,
        summary: "List a user's tokens",
        description:
          "Your own with `me`; anyone's for global_user_admin and global_admin. Never shows a token or its hash.",
        params: TokenCollectionParams,
        querystring: TokenListQuery,
        response: { 200: TokenCollection, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const page = readPage(request.query);
      const { items, total } = await tokens.list(principalOf(request), request.params.user_id, page);
      return {
        data: items.map(tokenResource),
        ...pageEnvelope(`/core/users/${request.params.user_id}/user_app_tokens`, page, total),
      };
    },
  );

  app.post(
    '/users/:user_id/user_app_tokens',
    {
      schema: {
        tags,
        security,
        summary: 'Create a token',
        description:
          'Needs the developer role; only for yourself. The answer holds the token, the only time it is ever shown, and is sent with `Cache-Control: no-store`.',
        params: TokenCollectionParams,
        body: CreateTokenBody,
        response: { 201: IssuedTokenDocument, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      expectType(request.body, TOKEN_TYPE);
      const issued = await tokens.create(
        principalOf(request),
        request.params.user_id,
        request.body.data.attributes.label,
      );
      const resource = tokenResource(issued);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .header('location', resource.links.self)
        .send({ data: resource });
    },
  );

  app.delete(
    '/users/:user_id/user_app_tokens/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke a token',
        description:
          "Your own, or anyone's for global_user_admin and global_admin. The token fails from the next request on.",
        params: TokenParams,
        response: { 204: { type: 'null', description: 'Revoked' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await tokens.revoke(principalOf(request), request.params.user_id, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

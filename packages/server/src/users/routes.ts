import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { andThen } from '../awaitable.js';
import { expectType } from '../http/documents.js';
import { errorResponses, pageEnvelope, readPage } from '../http/jsonapi.js';
import { principalOf } from '../http/principal.js';
import {
  CreateUserBody,
  UpdateUserBody,
  USER_TYPE,
  UserCollection,
  UserDocument,
  UserIdParams,
  UserListQuery,
  userResource,
} from './schemas.js';
import type { UserService } from './service.js';

const tags = ['Users'];
const security = [{ bearer: [] }];

export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  app.get(
    '/users',
    {
      schema: {
        tags,
        security,
        summary: 'List users',
        description: 'For global_user_admin and global_admin. Search matches email, first and last name.',
        querystring: UserListQuery,
        response: { 200: UserCollection, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = readPage(request.query);
      const search = request.query['filter[search]'];
      const archivedParam = request.query['filter[archived]'];
      const archived = archivedParam === undefined ? undefined : archivedParam === 'true';
      const { items, total } = await users.list(principalOf(request), { search, archived }, page);
      const filters: Record<string, string> = {};
      if (search !== undefined) filters['filter[search]'] = search;
      if (archivedParam !== undefined) filters['filter[archived]'] = archivedParam;
      return { data: items.map(userResource), ...pageEnvelope('/core/users', page, total, filters) };
    },
  );

  app.get(
    '/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a user',
        description:
          '`me` stands for the caller. Other users are visible to user admins only; to anyone else they are a 404.',
        params: UserIdParams,
        response: { 200: UserDocument, ...errorResponses(400, 401, 403, 404) },
      },
    },
    // Not async: the caller's own record is at hand, and is sent without a promise.
    (request) => andThen(users.get(principalOf(request), request.params.id), (user) => ({ data: userResource(user) })),
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        security,
        summary: 'Create a user',
        description:
          'For global_user_admin and global_admin. Without a password the user cannot sign in to the web app.',
        body: CreateUserBody,
        response: { 201: UserDocument, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      expectType(request.body, USER_TYPE);
      const user = await users.create(principalOf(request), request.body.data.attributes);
      return reply
        .code(201)
        .header('location', `/core/users/${user.id}`)
        .send({ data: userResource(user) });
    },
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Update a user',
        description:
          'Names and roles. Users may change their own names; roles need a user admin, and the global_admin role needs a global_admin. Role changes apply to the next request of every token.',
        params: UserIdParams,
        body: UpdateUserBody,
        response: { 200: UserDocument, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      expectType(request.body, USER_TYPE);
      return {
        data: userResource(await users.update(principalOf(request), request.params.id, request.body.data.attributes)),
      };
    },
  );

  app.patch(
    '/users/:id/archive',
    {
      schema: {
        tags,
        security,
        summary: 'Archive a user',
        description: 'Revokes every token of the user for good and ends its web sessions.',
        params: UserIdParams,
        response: { 200: UserDocument, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => ({ data: userResource(await users.archive(principalOf(request), request.params.id)) }),
  );

  app.patch(
    '/users/:id/unarchive',
    {
      schema: {
        tags,
        security,
        summary: 'Unarchive a user',
        description: 'The user may sign in again; tokens revoked by archiving stay revoked.',
        params: UserIdParams,
        response: { 200: UserDocument, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => ({ data: userResource(await users.unarchive(principalOf(request), request.params.id)) }),
  );
};

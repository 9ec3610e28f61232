import { Type } from 'typebox';
import { GLOBAL_ROLES } from '../access/principal.js';
import { collectionDocument, PageQuery, requestDocument, resourceSchema, singleDocument } from '../http/jsonapi.js';
import { RateLimit } from '../settings/schemas.js';
import type { User } from './service.js';

export const USER_TYPE = 'user';

const Role = Type.Union([Type.Literal('global_admin'), Type.Literal('global_user_admin'), Type.Literal('developer')], {
  description: `One of ${GLOBAL_ROLES.join(', ')}`,
});
const Name = Type.String({ maxLength: 100 });
const Timestamp = Type.String({ format: 'date-time' });
const RateLimitOverride = Type.Union([RateLimit, Type.Null()], {
  description: "This user's requests per minute, for bulk work (global_admin only); null means the instance default",
});

export const UserResource = resourceSchema(
  USER_TYPE,
  Type.Object({
    email: Type.String(),
    first_name: Type.String(),
    last_name: Type.String(),
    roles: Type.Array(Role),
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Type.Union([Timestamp, Type.Null()]),
    rate_limit_per_minute: RateLimitOverride,
  }),
);

export const UserDocument = singleDocument(UserResource);
export const UserCollection = collectionDocument(UserResource);

export const UserIdParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'A user id, or `me` for the caller' }),
});

export const UserListQuery = Type.Object({
  ...PageQuery.properties,
  'filter[search]': Type.Optional(Type.String({ maxLength: 200, description: 'Part of an email or name' })),
  'filter[archived]': Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
});

export const CreateUserBody = requestDocument(
  Type.Object(
    {
      email: Type.String({ minLength: 3, maxLength: 320 }),
      first_name: Type.Optional(Name),
      last_name: Type.Optional(Name),
      roles: Type.Optional(Type.Array(Role, { maxItems: 10 })),
      password: Type.Optional(Type.String({ minLength: 12, maxLength: 1024 })),
    },
    { additionalProperties: false },
  ),
);

export const UpdateUserBody = requestDocument(
  Type.Object(
    {
      first_name: Type.Optional(Name),
      last_name: Type.Optional(Name),
      roles: Type.Optional(Type.Array(Role, { maxItems: 10 })),
      rate_limit_per_minute: Type.Optional(RateLimitOverride),
    },
    { additionalProperties: false, minProperties: 1 },
  ),
);

export const userResource = (user: User) => {
  const { id, ...attributes } = user;
  return { type: USER_TYPE, id, attributes, links: { self: `/core/users/${id}` } };
};

import { type TSchema, Type } from 'typebox';

export const JSONAPI_MEDIA_TYPE = 'application/vnd.api+json';

/** Schemas and builders for JSON:API documents. Response schemas double as the leak guard. */

export const ResourceLinks = Type.Object({ self: Type.String() });

export const resourceSchema = <A extends TSchema>(type: string, attributes: A, extra: Record<string, TSchema> = {}) =>
  Type.Object({
    type: Type.Literal(type),
    id: Type.String(),
    attributes,
    ...extra,
    links: Type.Optional(ResourceLinks),
  });

export const singleDocument = <R extends TSchema>(resource: R) =>
  Type.Object({ data: resource, links: Type.Optional(ResourceLinks) });

export const singleDocumentWithMeta = <R extends TSchema, M extends TSchema>(resource: R, meta: M) =>
  Type.Object({ data: resource, links: Type.Optional(ResourceLinks), meta });

export const PageMeta = Type.Object({
  page: Type.Object({
    number: Type.Integer(),
    size: Type.Integer(),
    total_items: Type.Integer(),
    total_pages: Type.Integer(),
  }),
});

export const PageLinks = Type.Object({
  self: Type.String(),
  first: Type.String(),
  last: Type.String(),
  prev: Type.Union([Type.String(), Type.Null()]),
  next: Type.Union([Type.String(), Type.Null()]),
});

export const collectionDocument = <R extends TSchema>(resource: R) =>
  Type.Object({ data: Type.Array(resource), links: PageLinks, meta: PageMeta });

/** A request document `{ data: { type, attributes } }`. The type is checked by hand so a wrong one is a 409. */
export const requestDocument = <A extends TSchema>(attributes: A) =>
  Type.Object(
    {
      data: Type.Object(
        { type: Type.String({ maxLength: 100 }), id: Type.Optional(Type.String({ maxLength: 100 })), attributes },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  );

export const ErrorObject = Type.Object({
  status: Type.String(),
  code: Type.String(),
  title: Type.String(),
  detail: Type.String(),
  source: Type.Optional(
    Type.Object({
      pointer: Type.Optional(Type.String()),
      parameter: Type.Optional(Type.String()),
      header: Type.Optional(Type.String()),
    }),
  ),
  meta: Type.Object({ request_id: Type.String() }),
});

export const ErrorDocument = Type.Object({ errors: Type.Array(ErrorObject) });

/** The error answers a route can give, for its OpenAPI entry. */
export const errorResponses = (...statuses: number[]): Record<number, typeof ErrorDocument> =>
  Object.fromEntries(statuses.map((s) => [s, ErrorDocument]));

export const PageQuery = Type.Object({
  'page[number]': Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}$', description: 'Page number, from 1' })),
  'page[size]': Type.Optional(Type.String({ pattern: '^([1-9][0-9]?|100)$', description: 'Items per page, 1 to 100' })),
});

export interface Page {
  number: number;
  size: number;
}

export const DEFAULT_PAGE_SIZE = 20;

export function readPage(query: { 'page[number]'?: string | undefined; 'page[size]'?: string | undefined }): Page {
  const number = query['page[number]'] === undefined ? 1 : Number(query['page[number]']);
  const size = query['page[size]'] === undefined ? DEFAULT_PAGE_SIZE : Number(query['page[size]']);
  return { number, size };
}

export interface Paged<T> {
  items: T[];
  total: number;
}

/** Builds the `links` and `meta` of a paged collection; `extraQuery` keeps filters in every link. */
export function pageEnvelope(basePath: string, page: Page, total: number, extraQuery: Record<string, string> = {}) {
  const totalPages = Math.max(1, Math.ceil(total / page.size));
  const link = (n: number) => {
    const params = new URLSearchParams({ ...extraQuery, 'page[number]': String(n), 'page[size]': String(page.size) });
    return `${basePath}?${params.toString()}`;
  };
  return {
    links: {
      self: link(page.number),
      first: link(1),
      last: link(totalPages),
      prev: page.number > 1 ? link(Math.min(page.number - 1, totalPages)) : null,
      next: page.number < totalPages ? link(page.number + 1) : null,
    },
    meta: { page: { number: page.number, size: page.size, total_items: total, total_pages: totalPages } },
  };
}

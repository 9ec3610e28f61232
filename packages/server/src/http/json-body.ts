import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { AppError } from '../errors/app-error.js';
import { JSONAPI_MEDIA_TYPE } from './jsonapi.js';

/**
 * The only bodies the API reads: JSON, as `application/vnd.api+json` or `application/json`.
 * Keys that could poison prototypes are refused outright rather than silently dropped.
 */
export function registerJsonBodies(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  const parse = (_request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void) => {
    if (body.length === 0)
      return done(new AppError('invalid_json', 'The request body is empty; send a JSON document.'));
    try {
      done(null, secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const poisoned = err instanceof SyntaxError && /prototype/i.test(err.message);
      done(
        poisoned
          ? new AppError(
              'invalid_request',
              'The request body contains a forbidden key such as "__proto__" or "constructor".',
            )
          : new AppError('invalid_json', 'The request body is not valid JSON.'),
      );
    }
  };
  for (const type of ['application/json', JSONAPI_MEDIA_TYPE]) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit }, parse);
  }
}

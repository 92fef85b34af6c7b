import { koaBody } from 'koa-body';

/** Parses a JSON body (application/json or any +json type) into ctx.request.body. */
export const jsonBody = () =>
  koaBody({
    json: true,
    jsonTypes: ['application/json', '+json'],
    urlencoded: false,
    text: false,
    multipart: false,
  });

/** Parses an application/x-www-form-urlencoded body into ctx.request.body. */
export const formBody = () => koaBody({ json: false, text: false, multipart: false });

import { expect } from 'chai';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

describe('Grades Journey: gradeSchemasAPI', () => {
  let ctx: TestContext;
  let t: TenantFixture;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
  });

  it('creates a schema, then updates it by title', async () => {
    const created = await journey(ctx, t.token, 'gradeSchemasAPI', [
      { title: 'Pass-Fail-Custom-Schema', symbols: 'P=80:F=0', optionalData: 'sisSchemaID=PF' },
    ]);
    expect(created.body).to.deep.equal([
      {
        courseId: '',
        name: 'Pass-Fail-Custom-Schema',
        status: 'OK',
        message: 'Grade schema successfully created',
      },
    ]);
    const updated = await journey(ctx, t.token, 'gradeSchemasAPI', [
      { title: 'Pass-Fail-Custom-Schema', symbols: 'P=70:F=0' },
    ]);
    expect(updated.body[0]!.message).to.equal('Grade schema successfully updated');
    const rows = await ctx
      .db('grade_schemas')
      .where({ tenant_id: t.tenantId, title: 'Pass-Fail-Custom-Schema' });
    expect(rows).to.have.length(1);
    expect(JSON.parse(rows[0].symbols)).to.deep.equal([
      { symbol: 'P', lowerBound: 70 },
      { symbol: 'F', lowerBound: 0 },
    ]);
    expect(JSON.parse(rows[0].optional_data)).to.deep.equal({ sisSchemaID: 'PF' });
  });

  it('checks every field of every item and applies the good ones', async () => {
    const res = await journey(ctx, t.token, 'gradeSchemasAPI', [
      { symbols: 'A=90:F=0' },
      { title: 'x'.repeat(334), symbols: 'A=90:F=0' },
      { title: 'Bad symbols', symbols: 'A=90:B' + '=x' },
      { title: 'Too many symbols', symbols: 'A'.repeat(2001) },
      { title: 'Bad data', symbols: 'A=90:F=0', optionalData: 'nokey' },
      { title: 42, symbols: 'A=90:F=0' },
      { title: 'Typo', symbols: 'A=90:F=0', symbol: 'x' },
      { title: '', symbols: 'A=90' },
      { title: 'Good one', symbols: 'A=90:B=80:F=0' },
    ]);
    expect(res.body.map((r) => [r.status, r.message])).to.deep.equal([
      ['ERROR', 'title is required'],
      ['ERROR', 'title must be at most 333 characters'],
      ['ERROR', 'symbols: lower bound of "B" must be a non-negative number, got "x"'],
      ['ERROR', 'symbols must be at most 2000 characters'],
      ['ERROR', 'optionalData: "nokey" is not a key=value pair'],
      ['ERROR', 'title must be a string'],
      ['ERROR', 'symbol is not a known field'],
      ['ERROR', 'title must not be empty'],
      ['OK', 'Grade schema successfully created'],
    ]);
    expect(res.body[5]!.name).to.equal('');
    const titles = (
      await ctx.db('grade_schemas').where({ tenant_id: t.tenantId }).select('title')
    ).map((r) => r.title);
    expect(titles).to.include('Good one');
    expect(titles).not.to.include('Bad data');
  });

  it('keeps schemas apart per tenant', async () => {
    const other = await tenantWithClient(ctx);
    const res = await journey(ctx, other.token, 'gradeSchemasAPI', [
      { title: 'Pass-Fail-Custom-Schema', symbols: 'S=50:U=0' },
    ]);
    expect(res.body[0]!.message).to.equal('Grade schema successfully created');
    const mine = await ctx
      .db('grade_schemas')
      .where({ tenant_id: t.tenantId, title: 'Pass-Fail-Custom-Schema' })
      .first();
    expect(JSON.parse(mine.symbols)[0].symbol).to.equal('P');
  });
});

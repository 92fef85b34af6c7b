/** Every URL the emulator hands out, built from its base URL. */
export class EmulatorUrls {
  constructor(readonly base: string) {}

  get home(): string {
    return `${this.base}/`;
  }
  get authorization(): string {
    return `${this.base}/auth`;
  }
  get token(): string {
    return `${this.base}/token`;
  }
  get keyset(): string {
    return `${this.base}/jwks`;
  }
  get openidConfiguration(): string {
    return `${this.base}/.well-known/openid-configuration`;
  }
  get registration(): string {
    return `${this.base}/registration`;
  }
  /** Canvas's paths (canvas registration mode). */
  get canvasOpenidConfiguration(): string {
    return `${this.base}/api/lti/security/openid-configuration`;
  }
  get canvasRegistration(): string {
    return `${this.base}/api/lti/registrations`;
  }
  get deepLinkReturn(): string {
    return `${this.base}/deep-link/return`;
  }
  get launchReturn(): string {
    return `${this.base}/launch/return`;
  }

  context(contextId: string): string {
    return `${this.base}/api/lti/contexts/${encodeURIComponent(contextId)}`;
  }
  lineItems(contextId: string): string {
    return `${this.context(contextId)}/lineitems`;
  }
  lineItem(contextId: string, itemKey: string): string {
    return `${this.lineItems(contextId)}/${encodeURIComponent(itemKey)}`;
  }
  result(lineItemUrl: string, userId: string): string {
    return `${lineItemUrl}/results/${encodeURIComponent(userId)}`;
  }
  memberships(contextId: string): string {
    return `${this.context(contextId)}/memberships`;
  }
  /** A launch in a new window: answers with a redirect to a fresh login initiation URL. */
  launch(params: Record<string, string | undefined>, path = '/launch'): string {
    const url = new URL(`${this.base}${path}`);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url.toString();
  }
  /** A launch from the home page: the course page with the tool in an iframe. */
  embeddedLaunch(params: Record<string, string | undefined>): string {
    return this.launch(params, '/launch/embedded');
  }
}

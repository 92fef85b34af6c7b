/** Who is calling: the API client behind the token. */
export interface JourneyActor {
  tenantId: number;
  apiClientId: number;
  graderUserId: number | null;
  /** Shown as the gradebook's last change user. */
  name: string;
}

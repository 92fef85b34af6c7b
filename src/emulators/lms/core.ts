import type { AccessTokens } from './access-tokens.js';
import type { CourseStore } from './course-store.js';
import type { DeepLinkSessions } from './deep-link-sessions.js';
import type { LaunchHints } from './hints.js';
import type { PlatformKey } from './platform-key.js';
import type { PlatformStorageMode } from './platform-storage.js';
import type { RegistrationTokens } from './registration-tokens.js';
import type { ScoreFaults } from './score-faults.js';
import type { ToolKeysets } from './tool-keysets.js';
import type { ToolRegistry } from './tool-registry.js';
import type {
  CanvasDeploymentId,
  DeepLinkReturn,
  EmulatorStats,
  RegistrationMode,
} from './types.js';
import type { EmulatorUrls } from './urls.js';

export interface EmulatorSettings {
  pageSize: number;
  accessTokenTtlSeconds: number;
  idTokenTtlSeconds: number;
  keysetDelayMs: number;
  platformStorage: PlatformStorageMode;
  registrationMode: RegistrationMode;
  canvasDeploymentId: CanvasDeploymentId;
}

/** Everything the routes share: the platform's state, keys and settings. */
export interface EmulatorCore {
  urls: EmulatorUrls;
  issuer: string;
  /** tool_platform.guid: stable for the life of this instance. */
  platformGuid: string;
  key: PlatformKey;
  store: CourseStore;
  tools: ToolRegistry;
  keysets: ToolKeysets;
  accessTokens: AccessTokens;
  /** Scores a test makes the platform keep back or refuse. */
  scoreFaults: ScoreFaults;
  hints: LaunchHints;
  deepLinkSessions: DeepLinkSessions;
  registrationTokens: RegistrationTokens;
  settings: EmulatorSettings;
  stats: EmulatorStats;
  deepLinkReturns: DeepLinkReturn[];
  /** Aborted by close(), to cut short keyset delays and outbound fetches. */
  closing: AbortSignal;
}

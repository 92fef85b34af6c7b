export { LmsEmulator } from './emulator.js';
export { parseAutoPostForm, type ParsedForm } from './html.js';
export { seedDemoCourse, DEMO_CONTEXT_ID } from './demo-course.js';
export type {
  CanvasDeploymentId,
  ContextInput,
  ContextRecord,
  DeepLinkReturn,
  EmulatorEndpoints,
  EmulatorStats,
  LineItem,
  LineItemInput,
  LmsEmulatorOptions,
  LoginInitiationOptions,
  MemberInput,
  MemberRecord,
  MemberStatus,
  RegistrationMode,
  ResourceLinkInput,
  ResourceLinkRecord,
  Result,
  ResultInput,
  Score,
  ScoreRecord,
  ToolInput,
  ToolPlacement,
  ToolRecord,
} from './types.js';
export {
  CLAIM,
  MEDIA_TYPE,
  ROLE,
  SCOPE,
  SERVICE_SCOPES,
  type ActivityProgress,
  type GradingProgress,
  type MessageType,
} from './vocabulary.js';

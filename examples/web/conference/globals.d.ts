// The page's one global, for the browser console and tests.
interface Window {
  app: { state: Record<string, unknown>; room: import('@rtcloud/sdk').Room | null };
}

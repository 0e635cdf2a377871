// The rejection a provider call ends with (a partial-initialization rejection, a MigrationError, …), for tests
// that inspect its fields; fails the test when the call resolves instead.
export async function rejectionOf(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

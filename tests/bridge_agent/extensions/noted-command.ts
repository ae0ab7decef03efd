// A test extension: the command `/noted TEXT` is handled by the extension itself (pi answers
// the prompt with disposition "handled" and starts no run); it only notifies "noted TEXT".
export default function (pi: any) {
  pi.registerCommand("noted", {
    description: "Notify the text back, without a model call",
    handler: async (args: string, ctx: any) => {
      ctx.ui.notify(`noted ${args}`, "info");
    },
  });
}

/** An attachment about to be stored or sent, as given. */
export interface AttachmentInput {
  /** Already sanitised: names shown anywhere come from here. */
  filename: string;
  contentType: string;
  content: Buffer;
  contentId: string | null;
  inline: boolean;
}

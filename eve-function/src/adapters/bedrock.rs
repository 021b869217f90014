//! The model: Bedrock Converse and ConverseStream. Throttling is retried with backoff by the
//! SDK's standard retry policy (configured in `startup`); the core bounds the total time.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::DisplayErrorContext;
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput,
    InferenceConfiguration, Message, SystemContentBlock, TokenUsage,
};
use aws_sdk_bedrockruntime::Client;
use tokio::sync::mpsc;

use crate::core::ports::{ChatModel, ModelReply, ModelRequest, PortError, Role};

const DEPENDENCY: &str = "bedrock";

pub struct BedrockModel {
    client: Client,
}

impl BedrockModel {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn failed(error: impl std::error::Error) -> PortError {
    PortError::new(DEPENDENCY, DisplayErrorContext(error))
}

/// The parts Converse and ConverseStream share: messages, system prompt, inference settings.
struct Conversation {
    messages: Vec<Message>,
    system: SystemContentBlock,
    inference: InferenceConfiguration,
}

impl Conversation {
    fn of(request: &ModelRequest) -> Result<Self, PortError> {
        let messages = request
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => ConversationRole::User,
                    Role::Assistant => ConversationRole::Assistant,
                };
                Message::builder()
                    .role(role)
                    .content(ContentBlock::Text(m.text.clone()))
                    .build()
                    .map_err(failed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            messages,
            system: SystemContentBlock::Text(request.system.clone()),
            inference: InferenceConfiguration::builder()
                .max_tokens(i32::try_from(request.max_tokens).unwrap_or(i32::MAX))
                .temperature(request.temperature)
                .build(),
        })
    }

    fn converse(self, builder: ConverseFluentBuilder) -> ConverseFluentBuilder {
        builder
            .set_messages(Some(self.messages))
            .system(self.system)
            .inference_config(self.inference)
    }

    fn converse_stream(self, builder: ConverseStreamFluentBuilder) -> ConverseStreamFluentBuilder {
        builder
            .set_messages(Some(self.messages))
            .system(self.system)
            .inference_config(self.inference)
    }
}

fn count(usage: Option<&TokenUsage>, reply: &mut ModelReply) {
    if let Some(usage) = usage {
        reply.input_tokens = u64::try_from(usage.input_tokens()).unwrap_or(0);
        reply.output_tokens = u64::try_from(usage.output_tokens()).unwrap_or(0);
    }
}

#[async_trait]
impl ChatModel for BedrockModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, PortError> {
        let builder = self.client.converse().model_id(&request.model_id);
        let output = Conversation::of(request)?
            .converse(builder)
            .send()
            .await
            .map_err(failed)?;
        let mut reply = ModelReply::default();
        if let Some(ConverseOutput::Message(message)) = output.output() {
            reply.text = message
                .content()
                .iter()
                .filter_map(|block| block.as_text().ok())
                .map(String::as_str)
                .collect();
        }
        count(output.usage(), &mut reply);
        Ok(reply)
    }

    async fn converse_stream(
        &self,
        request: &ModelRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<ModelReply, PortError> {
        let builder = self.client.converse_stream().model_id(&request.model_id);
        let mut output = Conversation::of(request)?
            .converse_stream(builder)
            .send()
            .await
            .map_err(failed)?;
        let mut reply = ModelReply::default();
        while let Some(event) = output.stream.recv().await.map_err(failed)? {
            match event {
                ConverseStreamOutput::ContentBlockDelta(event) => {
                    if let Some(ContentBlockDelta::Text(text)) = event.delta() {
                        reply.text.push_str(text);
                        // A departed client must not stop the reply from completing and being stored.
                        let _ = deltas.send(text.clone()).await;
                    }
                }
                ConverseStreamOutput::Metadata(event) => count(event.usage(), &mut reply),
                _ => {}
            }
        }
        Ok(reply)
    }
}

package schemareg

import (
	"errors"
	"fmt"
)

// SubjectStrategy names the subject a schema is registered and looked up under, from the topic, the record's
// full name (Avro: the named type's full name; Protobuf: the message's full name; JSON Schema: the schema's
// "title") and whether the schema is the record key's. TopicName (the default), RecordName and
// TopicRecordName are the Confluent serializers' strategies; Subject returns a fixed one.
type SubjectStrategy func(topic, record string, key bool) (string, error)

// TopicName is "<topic>-key" or "<topic>-value" (Confluent's TopicNameStrategy, the default): one schema
// lineage per topic.
func TopicName(topic, _ string, key bool) (string, error) {
	if topic == "" {
		return "", errors.New("the TopicName subject strategy needs a topic: set the config's Topic")
	}
	if key {
		return topic + "-key", nil
	}
	return topic + "-value", nil
}

// RecordName is the record's full name (Confluent's RecordNameStrategy): one schema lineage per record type,
// whatever the topic, so one topic may carry several record types.
func RecordName(_, record string, _ bool) (string, error) {
	if record == "" {
		return "", errors.New("the RecordName subject strategy needs the record's name, taken from the schema (Avro: a named type; JSON Schema: a title)")
	}
	return record, nil
}

// TopicRecordName is "<topic>-<record full name>" (Confluent's TopicRecordNameStrategy): one lineage per record
// type and topic.
func TopicRecordName(topic, record string, _ bool) (string, error) {
	if topic == "" {
		return "", errors.New("the TopicRecordName subject strategy needs a topic: set the config's Topic")
	}
	if record == "" {
		return "", errors.New("the TopicRecordName subject strategy needs the record's name, taken from the schema (Avro: a named type; JSON Schema: a title)")
	}
	return topic + "-" + record, nil
}

// Subject is a strategy that always names this subject (for byte sources without topics, such as Kinesis
// streams, or registries organised by hand).
func Subject(name string) SubjectStrategy {
	return func(string, string, bool) (string, error) {
		if name == "" {
			return "", errors.New("schemareg.Subject: empty subject name")
		}
		return name, nil
	}
}

// subjectOf applies a strategy (default TopicName).
func subjectOf(s SubjectStrategy, topic, record string, key bool) (string, error) {
	if s == nil {
		s = TopicName
	}
	name, err := s(topic, record, key)
	if err != nil {
		return "", fmt.Errorf("subject: %w", err)
	}
	return name, nil
}

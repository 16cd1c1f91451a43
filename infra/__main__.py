"""DCCF on Kubernetes: wires the components together and exports the stack outputs."""

from __future__ import annotations

import pulumi
from cluster_namespace import ClusterNamespace
from config import load
from kafka_cluster import KafkaArgs, KafkaCluster
from master_service import MasterArgs, MasterService
from node_labels import NodeLabels
from postgres_db import PostgresArgs, PostgresDatabase
from service_image import ImageArgs, ServicesImage
from service_settings import ServiceSettings, SettingsArgs
from topic_job import TopicArgs, TopicJob
from worker_pool import WorkerArgs, WorkerPool

cfg = load()

namespace = ClusterNamespace("dccf", cfg.namespace)
node_labels = NodeLabels("node-labels", cfg.node_labels)
image = ServicesImage(
    "services-image",
    ImageArgs(
        image=cfg.image,
        registry=cfg.image_registry,
        minikube_profile=cfg.minikube_profile,
        load_command=cfg.image_load_command,
        extra_ca_cert_file=cfg.extra_ca_cert_file,
    ),
)

kafka = KafkaCluster(
    "kafka",
    KafkaArgs(
        namespace=namespace.name,
        image=cfg.kafka_image,
        replicas=cfg.kafka_replicas,
        replication_factor=cfg.kafka_replication_factor,
        min_insync_replicas=cfg.kafka_min_insync_replicas,
        storage_size=cfg.kafka_storage_size,
        storage_class=cfg.storage_class,
        resources=cfg.resources["kafka"],
        ready_timeout_seconds=cfg.ready_timeout_seconds,
    ),
)
postgres = PostgresDatabase(
    "postgres",
    PostgresArgs(
        namespace=namespace.name,
        image=cfg.postgres_image,
        password=cfg.postgres_password,
        storage_size=cfg.postgres_storage_size,
        storage_class=cfg.storage_class,
        resources=cfg.resources["postgres"],
        ready_timeout_seconds=cfg.ready_timeout_seconds,
    ),
)
topic = TopicJob(
    "jobs-topic",
    TopicArgs(
        namespace=namespace.name,
        image=cfg.kafka_image,
        bootstrap=kafka.bootstrap,
        topic=cfg.kafka_topic,
        partitions=cfg.kafka_partitions,
        replication_factor=cfg.kafka_replication_factor,
        min_insync_replicas=cfg.kafka_min_insync_replicas,
        resources=cfg.resources["topic"],
        ready_timeout_seconds=cfg.ready_timeout_seconds,
    ),
    opts=pulumi.ResourceOptions(depends_on=[kafka]),
)
settings = ServiceSettings(
    "dccf-settings",
    SettingsArgs(
        namespace=namespace.name,
        pg_host=postgres.host,
        pg_port=postgres.port,
        pg_user=postgres.user,
        pg_database=postgres.database,
        pg_password=cfg.postgres_password,
        kafka_bootstrap=kafka.bootstrap,
        kafka_topic=cfg.kafka_topic,
        kafka_partitions=cfg.kafka_partitions,
        max_job_seconds=cfg.max_job_seconds,
        api_tokens=cfg.api_tokens,
        webhook_secret=cfg.webhook_secret,
    ),
)
env_from, secret_env = settings.env()
# The services wait for labelled nodes to land on, and for the topic to exist.
services_ready = pulumi.ResourceOptions(depends_on=[node_labels, topic, postgres])

master = MasterService(
    "master",
    MasterArgs(
        namespace=namespace.name,
        image=image.ref,
        pull_policy=image.pull_policy,
        replicas=cfg.master_replicas,
        env_from=env_from,
        secret_env=secret_env,
        service_type=cfg.service_type,
        service_port=cfg.service_port,
        node_selector=cfg.master_node_selector,
        resources=cfg.resources["master"],
    ),
    opts=services_ready,
)
WorkerPool(
    "workers",
    WorkerArgs(
        namespace=namespace.name,
        image=image.ref,
        pull_policy=image.pull_policy,
        replicas=cfg.worker_replicas,
        slots=cfg.worker_slots,
        env_from=env_from,
        secret_env=secret_env,
        max_job_seconds=cfg.max_job_seconds,
        docker_storage_size=cfg.docker_storage_size,
        dind_image=cfg.dind_image,
        dind_security=cfg.dind_security,
        node_selector=cfg.worker_node_selector,
        worker_resources=cfg.resources["worker"],
        dind_resources=cfg.resources["dind"],
    ),
    opts=services_ready,
)

pulumi.export("masterUrl", master.url)
pulumi.export("namespace", namespace.name)
pulumi.export("kafkaBootstrap", kafka.bootstrap)
pulumi.export("image", image.ref)

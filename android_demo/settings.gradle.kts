// edgekit Android demo: camera -> edgekit artifact (LiteRT or ExecuTorch) -> top-3 labels + latency,
// plus "Teach" mode (on-device head training). See README.md for build steps and versions.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "edgekit-demo"
include(":core", ":app")

// Platform-independent Kotlin: JSON + manifest parsing, Pillow-exact preprocessing, top-k, the
// teach-mode head. No Android imports, so it is unit-tested on the JVM (./gradlew :core:test) and
// compiled by Debian's kotlinc 1.3 in edgekit's test suite (tests/test_apps_kotlin.py).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // the golden vectors that `edgekit export ... --bundle android_demo` wrote into the app's assets
    systemProperty("edgekit.assets.litert", rootProject.file("app/src/litert/assets").absolutePath)
    systemProperty("edgekit.assets.executorch", rootProject.file("app/src/executorch/assets").absolutePath)
}

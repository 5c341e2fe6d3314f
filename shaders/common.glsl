// Shared GLSL helpers. Saturating forms: the builtin tanh/exp overflow to
// NaN or Inf for large arguments on some drivers.
#ifndef VKNMT_COMMON_GLSL
#define VKNMT_COMMON_GLSL

float vk_tanh(float x)
{
    float c = clamp(x, -15.0, 15.0);
    float e = exp(2.0 * c);
    return (e - 1.0) / (e + 1.0);
}

float vk_sigmoid(float x)
{
    return 1.0 / (1.0 + exp(-clamp(x, -80.0, 80.0)));
}

vec4 vk_tanh(vec4 x)
{
    vec4 e = exp(2.0 * clamp(x, -15.0, 15.0));
    return (e - 1.0) / (e + 1.0);
}

vec4 vk_sigmoid(vec4 x)
{
    return 1.0 / (1.0 + exp(-clamp(x, -80.0, 80.0)));
}

// Flat index of this invocation in a grid laid out by vknmt_grid_1d. A
// macro, not a function: a function here is compiled where this file is
// included, before the shader's `layout(local_size_x_id = 0) in;`, so
// glslang folds gl_WorkGroupSize.x to its default of 1 and every grid of
// more than 65535 workgroups revisits and skips elements.
#define vk_flat_index() (gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x)

#endif
